// genarm generate: guided generation from the command line, for one prompt (streamed to the
// terminal, or as JSON) or a JSON Lines file of prompts (one result line written per prompt as it
// completes).
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/generate/result_json.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/io/jsonl.hpp"
#include "options.hpp"
#include "prompts.hpp"

namespace genarm::cli {
namespace {

const char* kUsage =
    "usage: genarm generate [--base DIR] [--arm DIR]... [--weights W1,W2] [--beta B]\n"
    "         (--prompt TEXT | --prompt-ids 1,2,3 | --input prompts.jsonl --output results.jsonl)\n"
    "         [--max-new-tokens N] [--greedy] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
    "         [--repeat-penalty R] [--seed S] [--ignore-eos] [--stop STR]... [--threads N] [--json]\n\n"
    "Samples from z = log_softmax(base) + sum_i (w_i / beta) * log_softmax(arm_i) (GenARM), then the\n"
    "sampler chain. Without --arm, the base model alone.\n\n";

std::vector<OptionSpec> options() {
  return concat({guidance_options(),
                 {{"--method", "M", "genarm (default) or base (ignore the ARMs)"},
                  {"--prompt", "TEXT", "prompt text (encoded with the tokenizer's special tokens)"},
                  {"--prompt-ids", "1,2,3", "prompt token ids, used exactly as given"},
                  {"--input", "FILE", "JSON lines {\"id\": ..., \"prompt\": \"...\"} or \"prompt_ids\""},
                  {"--output", "FILE", "with --input: one JSON line per prompt (id, prompt, text, ids, ...)"}},
                 template_options(), generation_options(), sampling_options(),
                 {{"--threads", "N", "threads per forward pass (default 1; 0 = all cores)"},
                  {"--json", "", "print the result as one JSON object"},
                  {"--details", "", "include per-token log-probs (base, ARMs, guided, sampled) in JSON"}}});
}

}  // namespace

int run_generate(const Argv& argv) {
  Args args("generate", options());
  if (!args.parse(argv)) {
    std::printf("%s%s", kUsage, args.help().c_str());
    return 0;
  }
  const int modes = args.has("--prompt") + args.has("--prompt-ids") + args.has("--input");
  if (modes != 1) throw UsageError("give exactly one of --prompt, --prompt-ids, --input");
  if (args.has("--input") != args.has("--output")) throw UsageError("--input and --output go together");

  const std::string method = args.get_or("--method", "genarm");
  if (method != "genarm" && method != "base") {
    fail(ErrorCategory::kInvalidArgument, "--method: '", method, "' is not one of genarm, base");
  }
  std::vector<std::filesystem::path> arm_dirs;
  if (method == "genarm") {
    for (const auto& a : args.all("--arm")) arm_dirs.push_back(resolve_model(a));
  }
  const Guidance g = guidance(args, arm_dirs.size());
  const auto sampler_config = sampler_params(args);
  const auto templates = prompt_templates(args, arm_dirs.size());
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 1, 0, 1024)));

  const auto model = GuidedModel::load(resolve_model(args.get_or("--base", "toy-base")), arm_dirs);
  const auto config = generation_config(args, model.eos_token_ids());
  auto policy = model.new_policy(g, &pool);
  sampling::Sampler sampler(sampler_config, model.vocab_size());
  const bool details = args.flag("--details");

  if (!args.has("--input")) {
    Prompts prompts;
    std::string prompt_text;
    if (auto text = args.get("--prompt")) {
      prompt_text = *text;
      prompts = prompts_from_text(*text, templates, model.tokenizer());
    } else {
      prompts = prompts_from_ids(Args::parse_ids("--prompt-ids", *args.get("--prompt-ids")), templates);
      prompt_text = model.tokenizer().decode(prompts.base, true);
    }
    if (args.flag("--json")) {
      const auto r = generate(policy, sampler, model.tokenizer(), prompts, config);
      auto j = to_json(r, details);
      j["prompt"] = prompt_text;
      j["prompt_ids"] = prompts.base;
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
    std::fputs(prompt_text.c_str(), stdout);
    std::fflush(stdout);
    const auto r = generate(policy, sampler, model.tokenizer(), prompts, config, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::printf("\n");
    std::fprintf(stderr, "[%zu new tokens in %.2f s, %.1f tokens/s, stop: %s]\n", r.ids.size(),
                 r.prefill_seconds + r.decode_seconds,
                 r.decode_seconds > 0 ? static_cast<double>(r.ids.size()) / r.decode_seconds : 0.0,
                 std::string(to_string(r.stop_reason)).c_str());
    return 0;
  }

  io::JsonlReader reader(*args.get("--input"));
  io::JsonlWriter writer(*args.get("--output"), /*append=*/false);
  size_t done = 0;
  while (auto record = reader.next()) {
    const Prompts prompts = prompts_from_record(*record, reader.where(), templates, model.tokenizer());
    sampler.reseed(sampler_config.seed + done);  // each prompt has its own reproducible stream
    const auto r = generate(policy, sampler, model.tokenizer(), prompts, config);
    auto out = to_json(r, details);
    out["id"] = record->contains("id") ? (*record)["id"] : nlohmann::json(done);
    out["prompt"] = record->contains("prompt") ? (*record)["prompt"]
                                                : nlohmann::json(model.tokenizer().decode(prompts.base, true));
    writer.write(out);
    ++done;
  }
  std::fprintf(stderr, "genarm generate: %zu results written to %s\n", done, args.get("--output")->c_str());
  return 0;
}

}  // namespace genarm::cli
