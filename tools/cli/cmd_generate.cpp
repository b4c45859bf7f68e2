// genarm generate: guided generation from the command line, for one prompt (streamed to the
// terminal, or as JSON) or a JSON Lines file of prompts (one result line written per prompt as it
// completes).
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/generate/result_json.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/io/jsonl.hpp"
#include "options.hpp"
#include "methods.hpp"
#include "prompts.hpp"
#include "batch_output.hpp"
#include "remote_base.hpp"

namespace genarm::cli {
namespace {

const char* kUsage =
    "usage: genarm generate [--base DIR] [--arm DIR]... [--weights W1,W2] [--beta B]\n"
    "         (--prompt TEXT | --prompt-ids 1,2,3 | --input prompts.jsonl --output results.jsonl)\n"
    "         [--max-new-tokens N] [--greedy] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
    "         [--repeat-penalty R] [--seed S] [--ignore-eos] [--stop STR]... [--threads N] [--json]\n"
    "         [--batch-size N] [--resume]\n\n"
    "Samples from z = log_softmax(base) + sum_i (w_i / beta) * log_softmax(arm_i) (GenARM), then the\n"
    "sampler chain. Without --arm, the base model alone. With --input, prompts are decoded in batches\n"
    "(--batch-size; every weight is read once per step for all of them) and each result line is\n"
    "written, in input order, as soon as it and the ones before it are complete; a killed job keeps\n"
    "its complete lines and --resume runs exactly the missing prompts. Progress goes to stderr.\n\n"
    "--base http://HOST:PORT/v1: the base is served by an OpenAI-compatible engine (vLLM, SGLang, llama.cpp,\n"
    "genarm serve --max-logprobs all) and guided by the local ARMs; GenARM then combines over the base's\n"
    "top-K tokens (--base-top-k; 0 = all). Methods genarm and base only; prompts run one at a time (the\n"
    "engine batches across callers; --batch-size is not used); a failure mid-way prints the partial result.\n\n";

std::vector<OptionSpec> options() {
  return concat({guidance_options(),
                 {{"--method", "M", "genarm (default), base (ignore the ARMs), args, best-of-n"},
                  {"--rm", "DIR", "args / best-of-n: trajectory reward model (*ForSequenceClassification)"},
                  {"--k", "K", "args: candidates per step, the base's top-k (default 10)"},
                  {"--w", "W", "args: weight of the reward (default 1.5)"},
                  {"--n", "N", "best-of-n: samples (default 4)"},
                  {"--reward", "R", "best-of-n: rm (default), arm (the first --arm's ARM reward) or afinn"},
                  {"--prompt", "TEXT", "prompt text (encoded with the tokenizer's special tokens)"},
                  {"--prompt-ids", "1,2,3", "prompt token ids, used exactly as given"},
                  {"--input", "FILE", "JSON lines {\"id\": ..., \"prompt\": \"...\"} or \"prompt_ids\""},
                  {"--output", "FILE", "with --input: one JSON line per prompt (id, prompt, text, ids, ...), in input order"},
                  {"--resume", "", "with --input: keep the results already in --output, run only the missing prompts"},
                  {"--batch-size", "N", "with --input: prompts decoded together (default 8; 1 = one at a time, same results)"}},
                 remote_base_options(), weight_type_options(), template_options(), generation_options(), sampling_options(),
                 {{"--threads", "N", "threads (default: all cores)"},
                  {"--json", "", "print the result as one JSON object"},
                  {"--details", "", "include per-token log-probs (base, ARMs, guided, sampled) in JSON"}}});
}

// generate --input: every prompt read and encoded before anything runs (a bad line fails the job
// at once), with the lines --resume finds already complete in --output.
struct InputJob {
  std::vector<nlohmann::json> ids, texts;  // per line: its "id" (else the line index), its prompt text
  std::vector<Prompts> prompts;
  std::filesystem::path output;
  bool resume = false;
  std::set<size_t> skipped;  // lines whose results --output already holds
};

InputJob read_input_job(const Args& args, const PromptTemplates& templates, const Tokenizer& tokenizer) {
  InputJob job;
  io::JsonlReader reader(*args.get("--input"));
  while (auto record = reader.next()) {
    job.prompts.push_back(prompts_from_record(*record, reader.where(), templates, tokenizer));
    const size_t i = job.ids.size();
    job.ids.push_back(record->contains("id") ? (*record)["id"] : nlohmann::json(i));
    job.texts.push_back(record->contains("prompt") ? (*record)["prompt"]
                                                   : nlohmann::json(tokenizer.decode(job.prompts.back().base, true)));
  }
  job.output = *args.get("--output");
  job.resume = args.flag("--resume");
  if (job.resume) {
    const auto finished = finished_ids(job.output);
    for (size_t i = 0; i < job.ids.size(); ++i) {
      if (finished.count(job.ids[i].dump())) job.skipped.insert(i);
    }
  }
  return job;
}

// --base http://...: the remote base's loop (remote_base.hpp), for --prompt, --prompt-ids and --input.
int run_generate_remote(const Args& args, const std::string& method) {
  if (method != "genarm" && method != "base") {
    fail(ErrorCategory::kInvalidArgument, "--method ", method, " with a remote base: only genarm and base are supported");
  }
  const std::vector<std::string> arms = method == "genarm" ? args.all("--arm") : std::vector<std::string>{};
  const sampling::SamplerParams sampler = sampler_params(args);
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  ModelCache cache;
  cache.set_weight_type(weight_type(args), &pool);
  RemoteRunner runner(args, *args.get("--base"), arms, cache, guidance(args, arms.size()), sampler,
                      generation_config(args, {}), &pool);
  const Tokenizer& tokenizer = runner.tokenizer();
  const auto templates = prompt_templates(args, arms.size());
  const bool details = args.flag("--details");
  GenerationResult partial;
  const auto run_one = [&](const Prompts& prompts, uint64_t seed, const StreamCallback& on_text,
                           const nlohmann::json& id) {
    try {
      return runner.run(prompts, seed, on_text, &partial);
    } catch (const Error& e) {
      report_partial(partial, id, e.what());
      throw;
    }
  };

  if (!args.has("--input")) {
    Prompts prompts;
    std::string prompt_text;
    if (auto text = args.get("--prompt")) {
      prompt_text = *text;
      prompts = prompts_from_text(*text, templates, tokenizer);
    } else {
      prompts = prompts_from_ids(Args::parse_ids("--prompt-ids", *args.get("--prompt-ids")), templates);
      prompt_text = tokenizer.decode(prompts.base, true);
    }
    if (args.flag("--json")) {
      const auto r = run_one(prompts, sampler.seed, {}, nullptr);
      auto j = to_json(r, details);
      j["prompt"] = prompt_text;
      j["prompt_ids"] = prompts.base;
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
    std::fputs(prompt_text.c_str(), stdout);
    std::fflush(stdout);
    const auto r = run_one(prompts, sampler.seed, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    }, nullptr);
    std::printf("\n");
    std::fflush(stdout);  // the text's line ends before the statistics line on stderr
    const auto& s = runner.last_stats();
    std::fprintf(stderr, "[%zu new tokens in %.2f s, %.1f tokens/s, stop: %s; remote base %s: %llu requests, %.1f ms each]\n",
                 r.ids.size(), r.decode_seconds, r.decode_seconds > 0 ? static_cast<double>(r.ids.size()) / r.decode_seconds : 0.0,
                 std::string(to_string(r.stop_reason)).c_str(), runner.engine().url().text().c_str(),
                 static_cast<unsigned long long>(s.http.requests),
                 s.http.requests > 0 ? 1e3 * s.http.seconds / static_cast<double>(s.http.requests) : 0.0);
    return 0;
  }

  const InputJob job = read_input_job(args, templates, tokenizer);
  // (references, not a structured binding: clang 14 cannot capture one in the lambdas below)
  const auto& ids = job.ids;
  const auto& texts = job.texts;
  const auto& all_prompts = job.prompts;
  const auto& output = job.output;
  const bool resume = job.resume;
  const auto& skipped = job.skipped;
  io::JsonlWriter writer(output, resume);
  OrderedWriter ordered(writer);
  Progress progress("generate " + method + " (remote base)", ids.size(), skipped.size());
  size_t done = skipped.size(), fresh = 0;
  double tokens = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (skipped.count(i)) continue;
    // seed + line index, as the batched path: the same results whichever base runs them.
    GenerationResult r = run_one(all_prompts[i], sampler.seed + i, {}, ids[i]);
    tokens += static_cast<double>(r.ids.size());
    auto out = to_json(r, details);
    out["id"] = ids[i];
    out["prompt"] = texts[i];
    ordered.add(i, std::move(out), skipped);
    ++fresh;
    progress.update(++done, tokens);
  }
  std::fprintf(stderr, "genarm generate: %zu results in %s (%zu new, %zu kept from before)\n", done,
               output.string().c_str(), fresh, skipped.size());
  return 0;
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
  if (!args.has("--input") && (args.has("--resume") || args.has("--batch-size"))) {
    throw UsageError("--resume and --batch-size go with --input");
  }

  const std::string method = args.get_or("--method", "genarm");
  if (method != "genarm" && method != "base" && method != "args" && method != "best-of-n") {
    fail(ErrorCategory::kInvalidArgument, "--method: '", method, "' is not one of genarm, base, args, best-of-n");
  }
  if (is_remote_base(args.get_or("--base", ""))) return run_generate_remote(args, method);
  refuse_remote_flags_without_remote(args);
  MethodDefaults defaults;
  defaults.base = args.get_or("--base", "toy-base");
  defaults.arms = args.all("--arm");
  defaults.rm = args.get_or("--rm", "");
  defaults.sampler = sampler_params(args);
  defaults.generation = generation_config(args, {});
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  defaults.pool = &pool;
  defaults.batch_size = static_cast<size_t>(args.get_int("--batch-size", 8, 1, 4096));
  MethodSpec spec;
  spec.text = method;
  spec.kind = method;
  if (method == "genarm") {
    const Guidance g = guidance(args, defaults.arms.size());
    spec.weights = g.weights;
    spec.beta = g.beta;
    if (defaults.arms.empty()) spec.kind = "base";  // no ARM: the base alone
  }
  spec.k = static_cast<int>(args.get_int("--k", 10, 1, 1 << 20));
  spec.w = static_cast<float>(args.get_double("--w", 1.5));
  spec.sample = !defaults.sampler.is_greedy();
  spec.n = static_cast<int>(args.get_int("--n", 4, 1, 1 << 16));
  spec.reward = args.get_or("--reward", "rm");
  if (spec.reward != "rm" && spec.reward != "arm" && spec.reward != "afinn") {
    fail(ErrorCategory::kInvalidArgument, "--reward: '", spec.reward, "' is not one of rm, arm, afinn");
  }
  if (spec.reward == "afinn") defaults.afinn = eval::AfinnScorer::load(bundled_data("afinn165.json"));
  const auto templates = prompt_templates(args, method == "genarm" ? defaults.arms.size() : 0);
  ModelCache cache;
  cache.set_adapter_bases(defaults.base, defaults.arms, args.all("--arm-base"));
  cache.set_weight_type(weight_type(args), &pool);
  MethodRunner runner(spec, cache, defaults);
  const Tokenizer& tokenizer = runner.tokenizer();
  const bool details = args.flag("--details");

  if (!args.has("--input")) {
    Prompts prompts;
    std::string prompt_text;
    if (auto text = args.get("--prompt")) {
      prompt_text = *text;
      prompts = prompts_from_text(*text, templates, tokenizer);
    } else {
      prompts = prompts_from_ids(Args::parse_ids("--prompt-ids", *args.get("--prompt-ids")), templates);
      prompt_text = tokenizer.decode(prompts.base, true);
    }
    if (args.flag("--json")) {
      const auto r = runner.run(prompts, defaults.sampler.seed);
      auto j = to_json(r, details);
      j["prompt"] = prompt_text;
      j["prompt_ids"] = prompts.base;
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
    std::fputs(prompt_text.c_str(), stdout);
    std::fflush(stdout);
    const auto r = runner.run(prompts, defaults.sampler.seed, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::printf("\n");
    std::fflush(stdout);  // the text's line ends before the statistics line on stderr
    std::fprintf(stderr, "[%zu new tokens in %.2f s, %.1f tokens/s, stop: %s]\n", r.ids.size(),
                 r.prefill_seconds + r.decode_seconds,
                 r.decode_seconds > 0 ? static_cast<double>(r.ids.size()) / r.decode_seconds : 0.0,
                 std::string(to_string(r.stop_reason)).c_str());
    return 0;
  }

  const InputJob job = read_input_job(args, templates, tokenizer);
  // (references, not a structured binding: clang 14 cannot capture one in the lambdas below)
  const auto& ids = job.ids;
  const auto& texts = job.texts;
  const auto& all_prompts = job.prompts;
  const auto& output = job.output;
  const bool resume = job.resume;
  const auto& skipped = job.skipped;
  std::vector<size_t> todo;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!skipped.count(i)) todo.push_back(i);
  }
  io::JsonlWriter writer(output, resume);
  OrderedWriter ordered(writer);
  Progress progress("generate " + spec.text, ids.size(), skipped.size());
  size_t done = skipped.size();
  double tokens = 0;
  // Each prompt has its own reproducible stream: seed + its line index, whatever the batch.
  runner.run_all(todo, [&](size_t i) { return all_prompts[i]; }, defaults.sampler.seed,
                 [&](size_t i, GenerationResult r) {
                   tokens += static_cast<double>(r.ids.size());
                   auto out = to_json(r, details);
                   out["id"] = ids[i];
                   out["prompt"] = texts[i];
                   ordered.add(i, std::move(out), skipped);
                   progress.update(++done, tokens);
                 });
  std::fprintf(stderr, "genarm generate: %zu results in %s (%zu new, %zu kept from before)\n", done,
               output.string().c_str(), todo.size(), skipped.size());
  return 0;
}

}  // namespace genarm::cli
