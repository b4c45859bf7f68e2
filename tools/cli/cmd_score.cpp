// genarm score: the ARM reward r(x, y) = sum_t log pi_arm(y_t | x, y_<t) of responses, for
// scoring and reranking with an autoregressive reward model.
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/guidance/arm_reward.hpp"
#include "genarm/io/json.hpp"
#include "genarm/io/jsonl.hpp"
#include "genarm/tokenizer/tokenizer.hpp"
#include "options.hpp"
#include "prompts.hpp"
#include "tokenizer_check.hpp"

namespace genarm::cli {

int run_score(const Argv& argv) {
  Args args("score", concat({{{"--arm", "DIR", "the autoregressive reward model (folder or bundled name)"},
                              {"--base", "DIR", "score over this base's vocabulary, as guided decoding does (text encoded "
                                                "with its tokenizer, the ARM's extra logits cut)"},
                              {"--input", "FILE", "JSON lines {\"prompt\": ..., \"response\": ...} (or prompt_ids / response_ids)"},
                              {"--output", "FILE", "write JSON lines with the rewards (default: stdout)"},
                              {"--threads", "N", "threads (default: all cores)"},
                              weight_type_options().front()},
                             template_options()}));
  if (!args.parse(argv)) {
    std::printf("usage: genarm score --arm DIR --input responses.jsonl [--output scores.jsonl]\n\n"
                "Prints r(x, y) = sum_t log pi_arm(y_t | x, y_<t) for each response.\n\n%s",
                args.help().c_str());
    return 0;
  }
  const auto dir = resolve_model(args.require("--arm"));
  Tokenizer tokenizer = Tokenizer::from_file(dir);
  if (const auto base = args.get("--base")) {
    const auto base_dir = resolve_model(*base);
    const Tokenizer base_tokenizer = Tokenizer::from_file(base_dir);
    check_reads_base_ids(base_tokenizer, base_dir.string(), tokenizer, "ARM", dir.string(),
                         "GenARM needs base and ARMs to share one tokenizer");
    tokenizer = base_tokenizer;
  }
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  TransformerSource arm(model::Transformer::load(dir, {.weights = weight_type(args), .pool = &pool, .progress = {}}));
  arm.set_thread_pool(&pool);
  const auto arm_template = args.get_or("--base-template", "");
  io::JsonlReader reader(args.require("--input"));
  std::unique_ptr<io::JsonlWriter> writer;
  if (auto out = args.get("--output")) writer = std::make_unique<io::JsonlWriter>(*out, false);
  size_t n = 0;
  while (auto record = reader.next()) {
    const io::JsonView v(*record, reader.where(), ErrorCategory::kFormat);
    v.expect_object();
    std::vector<int32_t> prompt, response;
    if (v.has("prompt_ids") || v.has("response_ids")) {
      prompt = token_ids(v.at("prompt_ids"));
      response = token_ids(v.at("response_ids"));
    } else {
      std::tie(prompt, response) = split_prompt_response(
          tokenizer, apply_template(arm_template, v.at("prompt").as_string()), v.at("response").as_string());
    }
    const ArmScore s = with_context(reader.where(), [&] { return arm_score(arm, prompt, response, tokenizer.vocab_size()); });
    nlohmann::json out{{"id", record->contains("id") ? (*record)["id"] : nlohmann::json(n)},
                       {"reward", s.reward},
                       {"response_tokens", response.size()}};
    if (writer) {
      writer->write(out);
    } else {
      std::printf("%s\n", out.dump().c_str());
      std::fflush(stdout);
    }
    ++n;
  }
  return 0;
}

}  // namespace genarm::cli
