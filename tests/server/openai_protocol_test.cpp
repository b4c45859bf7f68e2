// openai_protocol.hpp without sockets: request validation (every field, every error with its
// status, param and code), prompt encoding (completions as `genarm generate` encodes, chat as
// Hugging Face's apply_chat_template(tokenize=True)), and the response shapes OpenAI clients parse.
#include "genarm/server/openai_protocol.hpp"

#include <gtest/gtest.h>

#include "server_support.hpp"

namespace genarm::server {
namespace {

using testing::toy_model;

const GuidedModel& toy() {
  static const GuidedModel m =
      GuidedModel::load(toy_model("toy-base"), {toy_model("toy-arm-positive"), toy_model("toy-arm-concise")});
  return m;
}

ServedModels served(bool with_template = true) {
  ServedModels s;
  s.name = "toy-base";
  s.model = &toy();
  s.arm_names = {"positive", "concise"};
  s.rm_names = {"rm"};
  s.arm_templates.resize(2);
  s.batch_size = 8;
  if (with_template) {
    chat::SpecialTokens tokens;
    tokens.bos_token = "<s>";
    tokens.eos_token = "</s>";
    s.chat_template = chat::ChatTemplate::from_string(
        "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}",
        tokens);
  } else {
    s.no_chat_template_reason = "no chat template here";
  }
  return s;
}

ParsedRequest parse(Endpoint e, const std::string& body, const ServedModels& s = served(), ServerLimits limits = {}) {
  return parse_request(e, body, s, limits, /*default_seed=*/77);
}

// The ApiError of a body, or a failure if it parses.
ApiError error_of(Endpoint e, const std::string& body, const ServedModels& s = served(), ServerLimits limits = {}) {
  try {
    parse(e, body, s, limits);
  } catch (const ApiError& err) {
    return err;
  }
  ADD_FAILURE() << "no error for " << body;
  return ApiError(0, "");
}

::testing::AssertionResult fails_with(const ApiError& e, int status, const std::string& param, const std::string& code,
                                      const std::string& fragment = {}) {
  if (e.status() != status || e.param() != param || e.code() != code ||
      std::string(e.what()).find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure() << "got " << e.status() << " param '" << e.param() << "' code '" << e.code()
                                         << "': " << e.what();
  }
  return ::testing::AssertionSuccess();
}

constexpr Endpoint kCmpl = Endpoint::kCompletions;
constexpr Endpoint kChat = Endpoint::kChat;

TEST(OpenAiProtocol, CompletionFields) {
  const auto r = parse(kCmpl, R"({"model": "toy-base", "prompt": "The weather today", "max_tokens": 30,
      "temperature": 0.8, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.95, "repetition_penalty": 1.1,
      "frequency_penalty": 0.5, "presence_penalty": -0.5, "seed": 3, "stop": ["\n", "."], "n": 2, "logprobs": 3,
      "echo": true, "logit_bias": {"2": -100}, "user": "someone",
      "guidance": {"arms": {"concise": 0.3, "positive": 0.7}, "beta": 0.5}})");
  EXPECT_EQ(r.model, "toy-base");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].tokens.base, toy().tokenizer().encode("The weather today"));  // as `genarm generate`
  EXPECT_EQ(r.prompts[0].text, "The weather today");
  EXPECT_EQ(r.max_tokens, 30);
  EXPECT_EQ(r.config.max_new_tokens, 30);
  EXPECT_FLOAT_EQ(r.sampler.temperature, 0.8f);
  EXPECT_FLOAT_EQ(r.sampler.top_p, 0.9f);
  EXPECT_EQ(r.sampler.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampler.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.sampler.typical_p, 0.95f);
  EXPECT_FLOAT_EQ(r.sampler.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(r.sampler.frequency_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampler.presence_penalty, -0.5f);
  EXPECT_EQ(r.sampler.seed, 3u);
  EXPECT_TRUE(r.seeded);
  ASSERT_EQ(r.sampler.logit_bias.size(), 1u);
  EXPECT_EQ(r.sampler.logit_bias[0].first, 2);
  EXPECT_EQ(r.config.stop_strings, (std::vector<std::string>{"\n", "."}));
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.logprobs, 3);
  EXPECT_EQ(r.config.top_logprobs, 3);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.method, Method::kGenArm);
  // ARMs in the server's order whatever the request's key order (the order of the sum in z).
  EXPECT_EQ(r.arms, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(r.guidance.weights, (std::vector<float>{0.7f, 0.3f}));
  EXPECT_FLOAT_EQ(r.guidance.beta, 0.5f);
}

TEST(OpenAiProtocol, Defaults) {
  const auto c = parse(kCmpl, R"({"model": "toy-base", "prompt": "hi"})");
  EXPECT_EQ(c.max_tokens, 16);  // OpenAI's completions default
  EXPECT_EQ(c.sampler.seed, 77u);
  EXPECT_FALSE(c.seeded);
  EXPECT_FLOAT_EQ(c.sampler.temperature, 1.0f);
  EXPECT_EQ(c.logprobs, -1);
  EXPECT_TRUE(c.arms.empty());  // no guidance: the base alone
  EXPECT_FALSE(c.stream);
  const auto chat = parse(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(chat.max_tokens, ServerLimits{}.max_tokens);
  const auto nulls = parse(kCmpl, R"({"model": "toy-base", "prompt": "hi", "temperature": null, "stop": null,
      "max_tokens": null, "guidance": null, "logprobs": null})");
  EXPECT_EQ(nulls.max_tokens, 16);
  EXPECT_TRUE(nulls.config.stop_strings.empty());
}

TEST(OpenAiProtocol, PromptForms) {
  const Tokenizer& tok = toy().tokenizer();
  const auto strings = parse(kCmpl, R"({"model": "toy-base", "prompt": ["a cat", "a dog"]})");
  ASSERT_EQ(strings.prompts.size(), 2u);
  EXPECT_EQ(strings.prompts[1].tokens.base, tok.encode("a dog"));
  const auto ids = parse(kCmpl, R"({"model": "toy-base", "prompt": [1, 422, 436]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_EQ(ids.prompts[0].tokens.base, (std::vector<int32_t>{1, 422, 436}));  // used exactly as given
  EXPECT_EQ(ids.prompts[0].text, tok.decode(ids.prompts[0].tokens.base, true));
  const auto id_lists = parse(kCmpl, R"({"model": "toy-base", "prompt": [[1, 422], [1, 436, 915]]})");
  ASSERT_EQ(id_lists.prompts.size(), 2u);
  EXPECT_EQ(id_lists.prompts[1].tokens.base, (std::vector<int32_t>{1, 436, 915}));

  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": []})"), 400, "prompt", "invalid_value"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": ["a", [1]]})"), 400, "prompt[1]", "invalid_type"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": [1, 99999]})"), 400, "prompt[1]", "invalid_value",
                         "maximum of 4095"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": [1, -1]})"), 400, "prompt[1]", "invalid_value"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": [[1], []]})"), 400, "prompt[1]", "invalid_value"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": 5})"), 400, "prompt", "invalid_type"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": [1.5]})"), 400, "prompt[0]", "invalid_type"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base"})"), 400, "prompt", "missing_required_parameter"));
}

TEST(OpenAiProtocol, MalformedBodies) {
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": )"), 400, "", "invalid_json"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, "[1, 2]"), 400, "body", "invalid_type"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, ""), 400, "", "invalid_json"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, std::string(100000, '[')), 400, "", "invalid_json", "deeper than"));
  // Invalid UTF-8 in a prompt or a stop string, and a lone surrogate: the JSON is refused.
  EXPECT_TRUE(fails_with(error_of(kCmpl, "{\"model\": \"toy-base\", \"prompt\": \"a\xff\xfe b\"}"), 400, "", "invalid_json",
                         "UTF-8"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, "{\"model\": \"toy-base\", \"prompt\": \"a\", \"stop\": [\"\xc3\"]}"), 400, "",
                         "invalid_json"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": "\udc00"})"), 400, "", "invalid_json"));
}

TEST(OpenAiProtocol, FieldErrors) {
  const auto bad = [](const std::string& fields) {
    return error_of(kCmpl, R"({"model": "toy-base", "prompt": "hi", )" + fields + "}");
  };
  EXPECT_TRUE(fails_with(bad(R"("temperature": "hot")"), 400, "temperature", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("temperature": -1)"), 400, "temperature", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("top_p": 0)"), 400, "top_p", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("top_p": 1.5)"), 400, "top_p", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("min_p": 2)"), 400, "min_p", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("repetition_penalty": 0)"), 400, "repetition_penalty", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("top_k": 1.5)"), 400, "top_k", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("seed": "x")"), 400, "seed", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("n": 0)"), 400, "n", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("n": 9)"), 400, "n", "invalid_value", "maximum of 8"));  // the batch size
  EXPECT_TRUE(fails_with(bad(R"("max_tokens": -1)"), 400, "max_tokens", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("max_tokens": 5000)"), 400, "max_tokens", "invalid_value", "maximum of 2048"));
  EXPECT_TRUE(fails_with(bad(R"("stop": "")"), 400, "stop", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("stop": [1])"), 400, "stop[0]", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("logprobs": 21)"), 400, "logprobs", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("logprobs": true)"), 400, "logprobs", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("echo": 1)"), 400, "echo", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("stream": "yes")"), 400, "stream", "invalid_type"));
  EXPECT_TRUE(fails_with(bad(R"("stream_options": {"include_usage": true})"), 400, "stream_options", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("logit_bias": {"abc": 1})"), 400, "logit_bias.abc", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("logit_bias": {"5": 101})"), 400, "logit_bias.5", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("suffix": "end")"), 400, "suffix", "unsupported_parameter"));
  EXPECT_TRUE(fails_with(bad(R"("frobnicate": 1)"), 400, "frobnicate", "unknown_parameter",
                         "Unrecognized request argument supplied: frobnicate"));
  EXPECT_TRUE(fails_with(bad(R"("best_of": 2, "stream": true)"), 400, "best_of", "invalid_value"));
  EXPECT_TRUE(fails_with(bad(R"("best_of": 2, "n": 3)"), 400, "best_of", "invalid_value"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "gpt-4", "prompt": "hi"})"), 404, "model", "model_not_found"));
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"prompt": "hi"})"), 400, "model", "missing_required_parameter"));
  // Limits on prompts.
  ServerLimits limits;
  limits.max_prompt_tokens = 3;
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": "The weather today"})", served(), limits), 400,
                         "prompt", "context_length_exceeded"));
  limits = {};
  limits.max_prompts = 2;
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": ["a", "b", "c"]})", served(), limits), 400,
                         "prompt", "invalid_value", "at most 2 prompts"));
  const std::string long_ids = [] {
    std::string s = "[1";
    for (int i = 0; i < 600; ++i) s += ", 422";
    return s + "]";
  }();
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": )" + long_ids + "}"), 400, "prompt",
                         "context_length_exceeded", "maximum prompt length is 511"));
}

TEST(OpenAiProtocol, GuidanceObject) {
  const auto g = [](const std::string& guidance) {
    return parse(kCmpl, R"({"model": "toy-base", "prompt": "hi", "guidance": )" + guidance + "}");
  };
  const auto gerr = [](const std::string& guidance) {
    return error_of(kCmpl, R"({"model": "toy-base", "prompt": "hi", "guidance": )" + guidance + "}");
  };
  const auto names = g(R"({"arms": ["concise"]})");
  EXPECT_EQ(names.arms, (std::vector<size_t>{1}));
  EXPECT_EQ(names.guidance.weights, (std::vector<float>{1.0f}));
  EXPECT_TRUE(g(R"({"arms": {}})").arms.empty());

  const auto bon = g(R"({"method": "best-of-n", "n": 4, "reward": "rm"})");
  EXPECT_EQ(bon.method, Method::kBestOfN);
  EXPECT_EQ(bon.candidates, 4);
  EXPECT_EQ(bon.reward.kind, RewardSpec::Kind::kRm);
  const auto by_arm = g(R"({"method": "best-of-n", "arms": {"positive": 1}, "reward": "arm"})");
  EXPECT_EQ(by_arm.reward.kind, RewardSpec::Kind::kArm);
  EXPECT_EQ(by_arm.reward.index, 0u);
  EXPECT_EQ(by_arm.candidates, 4);  // default
  EXPECT_EQ(g(R"({"method": "best-of-n", "reward": "concise"})").reward.index, 1u);
  const auto args = g(R"({"method": "args", "k": 5, "w": 2})");
  EXPECT_EQ(args.method, Method::kArgs);
  EXPECT_EQ(args.args.k, 5);
  EXPECT_FLOAT_EQ(args.args.w, 2.0f);
  EXPECT_EQ(args.args_rm, 0u);

  EXPECT_TRUE(fails_with(gerr(R"({"arms": {"nope": 1}})"), 400, "guidance.arms.nope", "unknown_arm", "positive, concise"));
  EXPECT_TRUE(fails_with(gerr(R"({"arms": {"positive": "a lot"}})"), 400, "guidance.arms.positive", "invalid_type"));
  EXPECT_TRUE(fails_with(gerr(R"({"arms": ["positive", "positive"]})"), 400, "guidance.arms.positive", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"arms": 3})"), 400, "guidance.arms", "invalid_type"));
  EXPECT_TRUE(fails_with(gerr(R"({"arms": {"positive": 1}, "beta": 0})"), 400, "guidance.beta", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"arms": {"positive": 1}, "beta": -2})"), 400, "guidance.beta", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"arms": {"positive": 1}, "weight": 1})"), 400, "guidance.weight", "unknown_parameter"));
  EXPECT_TRUE(fails_with(gerr(R"({"method": "beam"})"), 400, "guidance.method", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"k": 3})"), 400, "guidance.k", "invalid_value", "'args' only"));
  EXPECT_TRUE(fails_with(gerr(R"({"method": "best-of-n", "n": 9})"), 400, "guidance.n", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"method": "best-of-n", "reward": "judge"})"), 400, "guidance.reward", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"method": "args", "arms": {"positive": 1}})"), 400, "guidance.arms", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr(R"({"method": "args", "reward": "positive"})"), 400, "guidance.reward", "invalid_value"));
  EXPECT_TRUE(fails_with(gerr("[]"), 400, "guidance", "invalid_type"));
  ServedModels no_rm = served();
  no_rm.rm_names.clear();
  EXPECT_TRUE(fails_with(error_of(kCmpl, R"({"model": "toy-base", "prompt": "hi", "guidance": {"method": "args"}})", no_rm),
                         400, "guidance.reward", "no_reward_model"));
}

TEST(OpenAiProtocol, ChatPromptAsHuggingFace) {
  const Tokenizer& tok = toy().tokenizer();
  const auto r = parse(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "Hello there"}],
      "max_completion_tokens": 12, "logprobs": true, "top_logprobs": 2})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "<s>user: Hello there\nassistant:");
  // apply_chat_template(tokenize=True): add_special_tokens=False — the template's BOS only, once.
  EXPECT_EQ(r.prompts[0].tokens.base, tok.encode(r.prompts[0].text, false));
  EXPECT_EQ(r.prompts[0].tokens.base[0], 1);
  EXPECT_NE(r.prompts[0].tokens.base[1], 1);
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_TRUE(r.prompts[0].tokens.guides.empty());  // no ARM has its own template

  ServedModels own = served();
  own.arm_templates[1] = chat::ChatTemplate::from_string("{% for m in messages %}[{{ m['content'] }}]{% endfor %}");
  const auto g = parse(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "Hi"}],
      "guidance": {"arms": {"positive": 1, "concise": 1}}})", own);
  ASSERT_EQ(g.prompts[0].tokens.guides.size(), 2u);
  EXPECT_EQ(g.prompts[0].tokens.guides[0], g.prompts[0].tokens.base);  // positive reads the base's prompt
  EXPECT_EQ(g.prompts[0].tokens.guides[1], tok.encode("[Hi]", false));  // concise its own

  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "x"}]})",
                                  served(false)),
                         400, "messages", "no_chat_template", "no chat template here"));
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": []})"), 400, "messages", "invalid_value"));
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"content": "x"}]})"), 400,
                         "messages[0].role", "missing_required_parameter"));
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": 5}]})"), 400,
                         "messages[0].content", "invalid_type"));
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "x"}],
      "top_logprobs": 2})"), 400, "top_logprobs", "invalid_value"));
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function"}]})"), 400, "tools", "unsupported_parameter"));
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "x"}],
      "echo": true})"), 400, "echo", "unknown_parameter"));
  // A template that raises: 400 naming the template's message.
  ServedModels raising = served();
  raising.chat_template = chat::ChatTemplate::from_string("{{ raise_exception('roles must alternate') }}");
  EXPECT_TRUE(fails_with(error_of(kChat, R"({"model": "toy-base", "messages": [{"role": "user", "content": "x"}]})", raising),
                         400, "messages", "chat_template_error", "roles must alternate"));
}

TEST(OpenAiProtocol, ResponseShapes) {
  const Json err = ApiError(400, "bad", "temperature", "invalid_value").body();
  EXPECT_EQ(dump(err), R"({"error":{"message":"bad","type":"invalid_request_error","param":"temperature","code":"invalid_value"}})");
  EXPECT_EQ(dump(error_body(404, "no")), R"({"error":{"message":"no","type":"invalid_request_error","param":null,"code":null}})");
  EXPECT_EQ(finish_reason(StopReason::kEos), "stop");
  EXPECT_EQ(finish_reason(StopReason::kStopString), "stop");
  EXPECT_EQ(finish_reason(StopReason::kLength), "length");
  EXPECT_EQ(finish_reason(StopReason::kContext), "length");
  const Json usage = usage_json(5, 7);
  EXPECT_EQ(dump(usage), R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12})");
  const Json c = completion_object("cmpl-1", 10, "toy-base", Json::array(), usage);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(chat_object("c", 1, "m", Json::array(), nullptr)["object"], "chat.completion");
  const Json chunk = chat_chunk("c", 1, "m", 0, Json{{"content", "hi"}}, nullptr, nullptr, true);
  EXPECT_EQ(dump(chunk), R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}],"usage":null})");
  const Json u = usage_chunk(Endpoint::kCompletions, "x", 1, "m", 2, 3);
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 5);
  EXPECT_EQ(models_list(served())["data"][0]["id"], "toy-base");
}

TEST(OpenAiProtocol, TokenTextsConcatenateToTheText) {
  const Tokenizer& tok = toy().tokenizer();
  const std::vector<int32_t> prompt = tok.encode("The weather today");
  const std::vector<int32_t> ids = tok.encode(" was sunny, and the children played outside.", false);
  std::string joined;
  int32_t previous = prompt.back();
  for (int32_t id : ids) {
    joined += token_text(tok, previous, id);
    previous = id;
  }
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), ids.begin(), ids.end());
  EXPECT_EQ(joined, tok.decode(all, true).substr(tok.decode(prompt, true).size()));
  EXPECT_EQ(token_text(tok, -1, 2), "</s>");  // special tokens are shown
}

}  // namespace
}  // namespace genarm::server
