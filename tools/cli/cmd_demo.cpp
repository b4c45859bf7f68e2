// genarm demo: GenARM on the bundled toy family in one command — the same prompts continued by
// the base model and by the base guided toward positive sentiment (several betas), toward concise
// answers, and by a blend of both; then the whole reference evaluation over the bundled prompts,
// with the table and plots.
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "evaluation.hpp"
#include "options.hpp"

namespace genarm::cli {

int run_demo(const Argv& argv) {
  Args args("demo", {{"--examples", "N", "prompts shown side by side (default 3)"},
                     {"--limit", "N", "prompts in the evaluation (default: all 200 bundled)"},
                     {"--out", "DIR", "where the table, plots and results go (default demo-out)"},
                     {"--seed", "S", "random seed (default 1)"},
                     {"--threads", "N", "threads (default: all cores)"}});
  if (!args.parse(argv)) {
    std::printf("usage: genarm demo [--examples N] [--limit N] [--out DIR]\n\n%s", args.help().c_str());
    return 0;
  }
  std::printf(
      "GenARM demo on the bundled toy models (models/MODELS.md)\n"
      "  base: toy-base, a 3.2M-parameter Llama trained on the Brown corpus\n"
      "  ARMs: toy-arm-positive (positive sentiment) and toy-arm-concise (short answers), 1.3M each\n"
      "  decoding: z = log_softmax(base) + sum_i (w_i / beta) * log_softmax(arm_i), sampled at temperature 1\n\n");
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  MethodDefaults defaults;
  defaults.sampler.seed = static_cast<uint64_t>(args.get_int("--seed", 1, 0, INT64_MAX));
  defaults.generation.max_new_tokens = 40;
  defaults.pool = &pool;
  const auto methods = toy_reference_methods();
  const auto prompts = read_prompts(bundled_data("prompts.jsonl"), static_cast<size_t>(args.get_int("--limit", 0, 0, INT64_MAX)));
  ModelCache cache;
  Judges judges(cache, defaults.base, {"toy-arm-positive", "toy-arm-concise"}, "toy-rm-positive",
                eval::AfinnScorer::load(bundled_data("afinn165.json")), &pool);

  // Side by side.
  std::vector<MethodRunner> runners;
  for (const auto& m : methods) runners.emplace_back(m, cache, defaults);
  const size_t examples = std::min<size_t>(static_cast<size_t>(args.get_int("--examples", 3, 0, 100)), prompts.size());
  const auto afinn = eval::AfinnScorer::load(bundled_data("afinn165.json"));
  for (size_t i = 0; i < examples; ++i) {
    const auto& p = prompts[i * prompts.size() / std::max<size_t>(examples, 1)];
    std::printf("prompt: \"%s\"\n", p.text.c_str());
    for (auto& r : runners) {
      const auto result = r.run(Prompts{r.tokenizer().encode(p.text), {}}, defaults.sampler.seed + i);
      std::printf("  %-46s [sentiment %+3d, %2zu tokens] %s%s\n", r.spec().label.c_str(), afinn.score(result.text),
                  result.ids.size(), p.text.c_str(), result.text.c_str());
    }
    std::printf("\n");
  }

  // The reference evaluation.
  EvalOptions options;
  options.out_dir = args.get_or("--out", "demo-out");
  options.seed = defaults.sampler.seed;
  std::filesystem::create_directories(options.out_dir);
  std::printf("Evaluating %zu methods on %zu held-out prompts (AFINN-165 sentiment of each continuation)...\n",
              methods.size(), prompts.size());
  std::fflush(stdout);
  std::vector<Summary> rows;
  for (const auto& m : methods) rows.push_back(run_method_eval(m, prompts, cache, defaults, judges, options));
  print_table(rows, judges);
  write_tables(rows, judges, options.out_dir);
  const auto plots = write_plots(rows, judges, options.out_dir);
  std::printf(
      "\nReference (models/MODELS.md, HF transformers on 400 prompts): base 0.12-0.29 mean sentiment, 25%% positive;\n"
      "GenARM positive beta 1: 5.2-5.3, 93%%; beta 0.5: 10.1, 99%%; concise beta 1: 2.1 tokens; blend: 2.9, 90%%, 19 tokens.\n"
      "Lower beta = stronger guidance; no model was retrained. Wrote %s/table.csv",
      options.out_dir.string().c_str());
  for (const auto& p : plots) std::printf(", %s", p.string().c_str());
  std::printf("\n");
  return 0;
}

}  // namespace genarm::cli
