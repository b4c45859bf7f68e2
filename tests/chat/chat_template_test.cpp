// Tests of ChatTemplate: real chat templates of common model families (tests/fixtures/chat/
// templates/, see its README) rendered on several conversations must give exactly what
// Hugging Face transformers' apply_chat_template gives (tests/fixtures/chat/renders.json, made
// by make_renders.py with jinja2), including the errors templates raise; and loading from a
// model folder the ways transformers does.
#include "genarm/chat/chat_template.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace genarm::chat {
namespace {

using nlohmann::ordered_json;
using testing::TempDir;
using testing::write_file;

std::filesystem::path chat_fixtures() { return testing::fixtures_dir() / "chat"; }

const ordered_json& renders() {
  static const ordered_json kRenders = [] {
    std::ifstream in(chat_fixtures() / "renders.json");
    return ordered_json::parse(in);
  }();
  return kRenders;
}

// The time make_renders.py pins strftime_now to: 2024-09-05 14:03:07 (a Thursday).
RenderOptions pinned_options() {
  RenderOptions options;
  std::tm now{};
  now.tm_year = 2024 - 1900;
  now.tm_mon = 8;
  now.tm_mday = 5;
  now.tm_hour = 14;
  now.tm_min = 3;
  now.tm_sec = 7;
  now.tm_wday = 4;
  now.tm_yday = 248;
  options.now = now;
  return options;
}

SpecialTokens tokens_of(const ordered_json& j) {
  SpecialTokens t;
  if (j.contains("bos_token")) t.bos_token = j["bos_token"].get<std::string>();
  if (j.contains("eos_token")) t.eos_token = j["eos_token"].get<std::string>();
  return t;
}

// Where two texts first differ, with a little context on both sides (JSON-quoted, so that
// whitespace differences are visible).
std::string describe_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  const size_t from = i > 40 ? i - 40 : 0;
  const auto excerpt = [&](const std::string& s) {
    return ordered_json(s.substr(std::min(from, s.size()), 100)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  return "first difference at byte " + std::to_string(i) + " (expected " + std::to_string(expected.size()) +
         " bytes, got " + std::to_string(actual.size()) + ")\n  expected: ..." + excerpt(expected) + "\n  actual:   ..." +
         excerpt(actual) + "\n  full expected: " + ordered_json(expected).dump() + "\n  full actual:   " +
         ordered_json(actual).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const auto& [name, tokens] : renders()["special_tokens"].items()) names.push_back(name);
  return names;
}

class HuggingFaceRender : public ::testing::TestWithParam<std::string> {};

// Every conversation of renders.json on one template: the same text, or the same error.
TEST_P(HuggingFaceRender, MatchesTransformers) {
  const std::string& name = GetParam();
  const ordered_json& all = renders();
  const ChatTemplate tpl = ChatTemplate::from_file(chat_fixtures() / "templates" / name, tokens_of(all["special_tokens"][name]));
  const RenderOptions options = pinned_options();
  int checked = 0;
  for (const ordered_json& c : all["cases"]) {
    if (c["template"] != name) continue;
    ++checked;
    const ordered_json& conversation = all["conversations"][c["conversation"].get<std::string>()];
    ordered_json extra = ordered_json::object();
    if (conversation.contains("tools")) extra["tools"] = conversation["tools"];
    if (c.contains("extra")) {
      for (const auto& [key, value] : c["extra"].items()) extra[key] = value;
    }
    ChatRequest request;
    request.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    request.continue_final_message = c.value("continue_final_message", false);
    request.variables = extra;
    request.options = options;
    const std::string label = c["conversation"].get<std::string>() +
                              ", add_generation_prompt=" + (request.add_generation_prompt ? "true" : "false") +
                              (request.continue_final_message ? ", continue_final_message=true" : "") +
                              (c.contains("extra") ? ", extra " + c["extra"].dump() : "");
    std::string actual;
    std::string error;
    try {
      actual = tpl.render(conversation["messages"], request);
    } catch (const Error& e) {
      error = e.what();
    }
    if (c.contains("expected")) {
      const std::string expected = c["expected"].get<std::string>();
      if (!error.empty()) {
        ADD_FAILURE() << name << " / " << label << ": threw " << error << "\n  expected: " << ordered_json(expected).dump();
      } else if (actual != expected) {
        ADD_FAILURE() << name << " / " << label << ": " << describe_difference(expected, actual);
      }
    } else {
      // The message Python's exception carries (raise_exception's text, a TypeError's, ...).
      const std::string message = c["error"]["message"].get<std::string>();
      if (error.empty()) {
        ADD_FAILURE() << name << " / " << label << ": rendered " << ordered_json(actual).dump() << "\n  expected "
                      << c["error"]["type"].get<std::string>() << ": " << message;
      } else {
        EXPECT_NE(error.find(message), std::string::npos)
            << name << " / " << label << ": error '" << error << "' lacks Python's message '" << message << "'";
        EXPECT_NE(error.find("/" + name + ":"), std::string::npos) << "the error names the template file: " << error;
      }
    }
  }
  EXPECT_GE(checked, 20) << "renders.json has too few cases for " << name;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string out;
  for (const char c : info.param.substr(0, info.param.size() - std::string(".jinja").size())) {
    if (std::isalnum(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Families, HuggingFaceRender, ::testing::ValuesIn(template_names()), test_name);

TEST(ChatTemplateRenders, CoverTheMainFamilies) {
  const std::vector<std::string> names = template_names();
  for (const char* wanted : {"meta-llama-Meta-Llama-3-8B-Instruct.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja",
                             "Qwen-Qwen2.5-7B-Instruct.jinja", "mistralai-Mistral-7B-Instruct-v0.1.jinja",
                             "mistralai-Mistral-Nemo-Instruct-2407.jinja", "google-gemma-2-2b-it.jinja",
                             "google-gemma-3-4b-it.jinja", "HuggingFaceH4-zephyr-7b-beta.jinja",
                             "allenai-Llama-3.1-Tulu-3-8B.jinja", "microsoft-Phi-3.5-mini-instruct.jinja",
                             "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "teknium-OpenHermes-2.5-Mistral-7B.jinja"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), wanted), names.end()) << wanted;
  }
  EXPECT_GE(renders()["cases"].size(), 600u);
}

// ---- loading from a model folder ----------------------------------------------------------

const char* const kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

ordered_json user_hello() { return ordered_json::parse(R"([{"role": "user", "content": " Hello "}])"); }

TEST(ChatTemplateLoading, ReadsTokenizerConfig) {
  TempDir dir("chat_config");
  ordered_json config;
  config["chat_template"] = kLlama3;
  config["bos_token"] = {{"__type", "AddedToken"}, {"content", "<|begin_of_text|>"}, {"lstrip", false}};
  config["eos_token"] = "<|eot_id|>";
  config["pad_token"] = nullptr;
  write_file(dir / "tokenizer_config.json", config.dump());
  const ChatTemplate tpl = ChatTemplate::from_model_dir(dir.path());
  EXPECT_EQ(tpl.special_tokens().bos_token, "<|begin_of_text|>");
  EXPECT_EQ(tpl.special_tokens().eos_token, "<|eot_id|>");
  EXPECT_FALSE(tpl.special_tokens().pad_token.has_value());
  EXPECT_EQ(tpl.render(user_hello(), true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(tpl.render(user_hello(), false), "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>");
  EXPECT_EQ(tpl.names(), std::vector<std::string>{"default"});
}

TEST(ChatTemplateLoading, UnsetTokensAreUndefinedAndSpecialTokensMapCompletes) {
  TempDir dir("chat_tokens");
  write_file(dir / "tokenizer_config.json",
             R"({"chat_template": "[{{ bos_token }}|{{ eos_token }}|{{ unk_token is defined }}|{{ additional_special_tokens }}]",
                 "eos_token": "</s>", "bos_token": null})");
  write_file(dir / "special_tokens_map.json",
             R"({"bos_token": {"content": "<s>"}, "eos_token": "<other>", "additional_special_tokens": ["<a>", {"content": "<b>"}]})");
  const ChatTemplate tpl = ChatTemplate::from_model_dir(dir.path());
  // tokenizer_config.json wins where it sets a token; special_tokens_map.json fills the rest.
  EXPECT_EQ(tpl.render(ordered_json::array(), false), "[<s>|</s>|False|['<a>', '<b>']]");
}

TEST(ChatTemplateLoading, ChoosesAmongNamedTemplatesAsTransformersDoes) {
  TempDir dir("chat_named");
  write_file(dir / "tokenizer_config.json", R"({"chat_template": [
      {"name": "default", "template": "default:{{ messages|length }}"},
      {"name": "tool_use", "template": "tools:{{ tools|length }}"},
      {"name": "rag", "template": "rag:{{ documents|length }}"}]})");
  const ChatTemplate tpl = ChatTemplate::from_model_dir(dir.path());
  EXPECT_EQ(tpl.names(), (std::vector<std::string>{"default", "rag", "tool_use"}));
  EXPECT_EQ(tpl.render(user_hello(), true), "default:1");
  ordered_json extra;
  extra["tools"] = ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  EXPECT_EQ(tpl.render(user_hello(), true, extra), "tools:1");
  extra = ordered_json::object();
  extra["documents"] = ordered_json::parse(R"([{"title": "a"}, {"title": "b"}])");
  ChatRequest request;
  request.variables = extra;
  request.template_name = "rag";
  EXPECT_EQ(tpl.render(user_hello(), request), "rag:2");
  request.template_name = "nope";
  GENARM_EXPECT_ERROR(tpl.render(user_hello(), request), ErrorCategory::kInvalidArgument,
                      "no chat template named 'nope' (the model has: default, rag, tool_use)");

  TempDir no_default("chat_no_default");
  write_file(no_default / "tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "x"}]})");
  GENARM_EXPECT_ERROR(ChatTemplate::from_model_dir(no_default.path()).render(user_hello(), true),
                      ErrorCategory::kInvalidArgument, "several chat templates and none named 'default' (rag)");
}

TEST(ChatTemplateLoading, ChatTemplateJinjaFileWins) {
  TempDir dir("chat_jinja_file");
  write_file(dir / "tokenizer_config.json", R"({"chat_template": "from config", "eos_token": "</s>"})");
  write_file(dir / "chat_template.jinja", "from file {{ eos_token }}\n");
  std::filesystem::create_directories(dir / "additional_chat_templates");
  write_file(dir.path() / "additional_chat_templates" / "tool_use.jinja", "tool file");
  const ChatTemplate tpl = ChatTemplate::from_model_dir(dir.path());
  EXPECT_EQ(tpl.render(user_hello(), true), "from file </s>") << "one trailing newline dropped, as jinja2 does";
  EXPECT_EQ(tpl.render(user_hello(), true, {{"tools", ordered_json::array()}}), "tool file");
  EXPECT_EQ(tpl.source(), "from file {{ eos_token }}");

  TempDir only_file("chat_only_file");
  write_file(only_file / "chat_template.jinja", "{{ bos_token is defined }}");
  EXPECT_EQ(ChatTemplate::from_model_dir(only_file.path()).render(user_hello(), true), "False");

  TempDir processor("chat_processor");
  write_file(processor / "chat_template.json", R"({"chat_template": "processor {{ messages[0].role }}"})");
  EXPECT_EQ(ChatTemplate::from_model_dir(processor.path()).render(user_hello(), true), "processor user");
}

TEST(ChatTemplateLoading, ErrorsNameTheFile) {
  TempDir empty("chat_empty");
  GENARM_EXPECT_ERROR(ChatTemplate::from_model_dir(empty.path()), ErrorCategory::kConfig, "no chat template");

  TempDir bad_type("chat_bad_type");
  write_file(bad_type / "tokenizer_config.json", R"({"chat_template": 5})");
  GENARM_EXPECT_ERROR(ChatTemplate::from_model_dir(bad_type.path()), ErrorCategory::kConfig,
                      "tokenizer_config.json: chat_template: expected a string or a list of {\"name\", \"template\"} objects, got an integer 5");

  TempDir bad_token("chat_bad_token");
  write_file(bad_token / "tokenizer_config.json", R"({"chat_template": "x", "bos_token": 7})");
  GENARM_EXPECT_ERROR(ChatTemplate::from_model_dir(bad_token.path()), ErrorCategory::kConfig,
                      "tokenizer_config.json: bos_token: expected a string or an AddedToken object");

  TempDir syntax("chat_syntax");
  write_file(syntax / "tokenizer_config.json", R"({"chat_template": "line one\n{% if x %}never closed"})");
  const std::string message = testing::error_message([&] { ChatTemplate::from_model_dir(syntax.path()); });
  EXPECT_NE(message.find("tokenizer_config.json: chat_template:2:23: unexpected end of template"), std::string::npos) << message;

  TempDir list_syntax("chat_list_syntax");
  write_file(list_syntax / "tokenizer_config.json", R"({"chat_template": [{"name": "default", "template": "{{ x | }}"}]})");
  const std::string list_message = testing::error_message([&] { ChatTemplate::from_model_dir(list_syntax.path()); });
  EXPECT_NE(list_message.find("tokenizer_config.json: chat_template[0].template:1:8: expected a name"), std::string::npos)
      << list_message;

  TempDir not_json("chat_not_json");
  write_file(not_json / "tokenizer_config.json", "{");
  GENARM_EXPECT_ERROR(ChatTemplate::from_model_dir(not_json.path()), ErrorCategory::kFormat, "not valid JSON");

  GENARM_EXPECT_ERROR(ChatTemplate::from_file(empty / "missing.jinja"), ErrorCategory::kIo, "missing.jinja: cannot open");
}

TEST(ChatTemplateRendering, RaisedExceptionsNameTheTemplatePosition) {
  SpecialTokens tokens;
  tokens.bos_token = "<bos>";
  tokens.eos_token = "<eos>";
  const ChatTemplate tpl = ChatTemplate::from_file(chat_fixtures() / "templates" / "google-gemma-2-2b-it.jinja", tokens);
  const std::string message = testing::error_message([&] {
    tpl.render(ordered_json::parse(R"([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])"), true);
  });
  EXPECT_NE(message.find("google-gemma-2-2b-it.jinja:1:59: raise_exception: System role not supported"), std::string::npos)
      << message;
}

TEST(ChatTemplateRendering, ContinuesTheFinalMessage) {
  const ChatTemplate chatml = ChatTemplate::from_file(chat_fixtures() / "templates" / "teknium-OpenHermes-2.5-Mistral-7B.jinja");
  const auto messages = ordered_json::parse(R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, I "}])");
  ChatRequest request;
  request.add_generation_prompt = false;
  request.continue_final_message = true;
  // The template keeps the text as it is, so its trailing space stays.
  EXPECT_EQ(chatml.render(messages, request), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello, I ");
  // Content parts: the last text part is the one continued.
  const auto parts = ordered_json::parse(R"([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])");
  EXPECT_EQ(ChatTemplate::from_string("[{% for p in messages[0].content %}{{ p.text }}{% endfor %}] end").render(parts, request), "[ab");
  GENARM_EXPECT_ERROR(ChatTemplate::from_string("nothing").render(messages, request), ErrorCategory::kInvalidArgument,
                      "the final message does not appear in the chat after applying the chat template");
  request.add_generation_prompt = true;
  GENARM_EXPECT_ERROR(chatml.render(messages, request), ErrorCategory::kInvalidArgument,
                      "continue_final_message and add_generation_prompt are not compatible");
}

TEST(ChatTemplateRendering, ValidatesItsArguments) {
  const ChatTemplate tpl = ChatTemplate::from_string("{{ messages|length }}{{ x }}");
  GENARM_EXPECT_ERROR(tpl.render(ordered_json::object(), true), ErrorCategory::kInvalidArgument,
                      "chat messages: expected a JSON array, got object");
  GENARM_EXPECT_ERROR(tpl.render(user_hello(), true, ordered_json::array()), ErrorCategory::kInvalidArgument,
                      "chat template variables: expected a JSON object, got array");
  GENARM_EXPECT_ERROR(tpl.render(user_hello(), true, {{"messages", 1}}), ErrorCategory::kInvalidArgument,
                      "'messages' is given by its own argument");
  EXPECT_EQ(tpl.render(user_hello(), true, {{"x", "!"}}), "1!");
  // Content as a list of parts reaches the template as it is, like in transformers.
  EXPECT_EQ(ChatTemplate::from_string("{% for p in messages[0].content %}{{ p.text }}{% endfor %}")
                .render(ordered_json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])"),
                        true),
            "ab");
  // A plain nlohmann::json works too (its keys come sorted).
  EXPECT_EQ(tpl.render(nlohmann::json::parse(R"([{"role": "user", "content": "x"}])"), true), "1");
}

}  // namespace
}  // namespace genarm::chat
