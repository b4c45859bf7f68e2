// genarm bench: the cost of each decoding method on the same prompts, in one process — base alone,
// GenARM with one and two ARMs, ARGS (k = 10) and best-of-4 — as tokens/s and as time per token
// relative to the base alone, on one thread and on all cores. EOS is ignored so that every method
// produces the same number of tokens per prompt.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "evaluation.hpp"
#include "options.hpp"

namespace genarm::cli {

int run_bench(const Argv& argv) {
  Args args("bench", {{"--base", "DIR", "base model (default toy-base)"},
                      {"--arm", "DIR", "ARMs: the first for 1-ARM GenARM, both for 2 (default toy-arm-positive, toy-arm-concise)", true},
                      {"--arm-base", "DIR", "the base of the i-th --arm when it is a LoRA adapter (default: its own, else --base)", true},
                      {"--rm", "DIR", "trajectory reward model for ARGS and best-of-N (default toy-rm-positive)"},
                      {"--prompts", "FILE", "JSON lines with \"prompt\" (default: the bundled prompts)"},
                      {"--limit", "N", "prompts (default 20)"},
                      {"--max-new-tokens", "N", "tokens per prompt (default 40)"},
                      {"--threads", "N1,N2", "thread counts to measure (default 1 and all cores)"},
                      {"--k", "K", "ARGS candidates (default 10)"},
                      {"--n", "N", "best-of-N samples (default 4)"},
                      weight_type_options().front()});
  if (!args.parse(argv)) {
    std::printf("usage: genarm bench [--base DIR] [--arm DIR]... [--rm DIR] [--limit N] [--threads 1,2]\n\n%s",
                args.help().c_str());
    return 0;
  }
  MethodDefaults defaults;
  defaults.base = args.get_or("--base", "toy-base");
  defaults.arms = args.all("--arm");
  if (defaults.arms.empty()) defaults.arms = {"toy-arm-positive", "toy-arm-concise"};
  defaults.rm = args.get_or("--rm", "toy-rm-positive");
  defaults.generation.max_new_tokens = static_cast<int>(args.get_int("--max-new-tokens", 40, 1, 1 << 20));
  defaults.generation.ignore_eos = true;
  defaults.generation.details = false;
  const auto prompts = read_prompts(args.has("--prompts") ? std::filesystem::path(*args.get("--prompts")) : bundled_data("prompts.jsonl"),
                                    static_cast<size_t>(args.get_int("--limit", 20, 1, INT64_MAX)));
  std::vector<size_t> thread_counts;
  if (auto t = args.get("--threads")) {
    for (double v : Args::parse_numbers("--threads", *t)) thread_counts.push_back(static_cast<size_t>(std::max(0.0, v)));
  } else {
    thread_counts = {1, std::max(1u, std::thread::hardware_concurrency())};
    if (thread_counts[1] == 1) thread_counts.pop_back();
  }
  const std::string k = std::to_string(args.get_int("--k", 10, 1, 1 << 16));
  const std::string n = std::to_string(args.get_int("--n", 4, 1, 1 << 16));
  std::vector<std::pair<MethodSpec, std::string>> methods = {
      {parse_method("base"), "1 base"},
      {parse_method("genarm:arms=" + defaults.arms[0] + ",beta=1"), "1 base + 1 ARM"},
  };
  if (defaults.arms.size() > 1) {
    methods.push_back({parse_method("genarm:arms=" + defaults.arms[0] + "/" + defaults.arms[1] + ",weights=0.5/0.5,beta=1"),
                       "1 base + 2 ARMs"});
  }
  methods.push_back({parse_method("args:k=" + k + ",w=1.5"), "1 base + RM on " + k + " candidates (batched)"});
  methods.push_back({parse_method("best-of-n:n=" + n + ",reward=rm"), n + " base samples + " + n + " RM passes"});

  ModelCache cache;
  cache.set_adapter_bases(defaults.base, defaults.arms, args.all("--arm-base"));
  cache.set_weight_type(weight_type(args), nullptr);
  std::printf("genarm bench: %zu prompts x %d tokens per method (EOS ignored), base %s\n", prompts.size(),
              defaults.generation.max_new_tokens, defaults.base.c_str());
  for (size_t threads : thread_counts) {
    ThreadPool pool(threads);
    defaults.pool = &pool;
    std::printf("\n%zu thread%s\n%-44s %12s %10s %12s  %s\n", pool.size(), pool.size() == 1 ? "" : "s", "method",
                "tokens/s", "ms/token", "x base time", "work per token");
    double base_ms = 0;
    for (const auto& [spec, work] : methods) {
      MethodRunner runner(spec, cache, defaults);
      // Warm-up (page in the weights), then the measured pass.
      runner.run(Prompts{runner.tokenizer().encode(prompts[0].text), {}}, 0);
      double tokens = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < prompts.size(); ++i) {
        tokens += static_cast<double>(runner.run(Prompts{runner.tokenizer().encode(prompts[i].text), {}}, i).ids.size());
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double ms = 1000.0 * seconds / tokens;
      if (base_ms == 0) base_ms = ms;
      std::printf("%-44s %12.1f %10.3f %12.2f  %s\n", spec.label.c_str(), tokens / seconds, ms, ms / base_ms, work.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace genarm::cli
