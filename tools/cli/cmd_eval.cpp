// genarm eval: decoding methods side by side on a prompts file — generations scored for sentiment
// (AFINN-165), length, ARM rewards and a trajectory RM's score, a table (terminal, CSV, JSON) and
// plots (reward vs beta, the Pareto front across ARM weights). Results are written as they
// complete; --resume continues an interrupted run.
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "evaluation.hpp"
#include "options.hpp"

namespace genarm::cli {
namespace {

const char* kUsage =
    "usage: genarm eval [--base DIR] [--arm DIR]... [--rm DIR] [--prompts FILE] [--limit N]\n"
    "         [--method SPEC]... [--betas B1,B2,...] [--weight-grid N] [--grid-beta B]\n"
    "         [--out DIR] [--resume] [--max-new-tokens N] [sampling options] [--batch-size N] [--threads N]\n\n"
    "Methods (SPEC): base | base:model=DIR | genarm:arms=A/B,weights=0.5/0.5,beta=1\n"
    "  | args:rm=DIR,k=10,w=1.5[,sample=1] | best-of-n:n=4,reward=rm|arm|afinn[,rm=DIR][,arms=...]\n"
    "Without methods: a toy-family preset, judged by both ARMs and toy-rm-positive —\n"
    "  reference:  base; GenARM positive at beta 2, 1, 0.5; concise at beta 1; blend at beta 0.5\n"
    "  comparison: base; GenARM positive at beta 1, 0.5; best-of-4 (RM); ARGS greedy and\n"
    "              stochastic (k 10, w 1.5); the DPO policy\n"
    "--betas adds GenARM runs of the first ARM; --weight-grid N adds N+1 runs over the weights of\n"
    "the first two ARMs (w1 = i/N, w2 = 1 - w1).\n\n";

std::string fmt_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

int run_eval(const Argv& argv) {
  Args args("eval", concat({guidance_options(), weight_type_options(),
                            {{"--rm", "DIR", "trajectory reward model (*ForSequenceClassification) to score with"},
                             {"--prompts", "FILE", "JSON lines with \"prompt\" (default: the bundled data/prompts.jsonl)"},
                             {"--limit", "N", "use the first N prompts"},
                             {"--method", "SPEC", "a method to evaluate", true},
                             {"--preset", "NAME", "toy-family method set: reference (default) or comparison (with baselines)"},
                             {"--betas", "B1,B2", "GenARM runs of the first ARM at these betas"},
                             {"--weight-grid", "N", "GenARM runs over the weights of the first two ARMs"},
                             {"--grid-beta", "B", "beta of the weight grid (default 1)"},
                             {"--judge-arm", "DIR", "ARMs whose reward is reported (default: the --arm list)", true},
                             {"--out", "DIR", "output folder (default eval-out)"},
                             {"--resume", "", "keep existing results and run only the missing prompts"},
                             {"--batch-size", "N", "prompts decoded together (default 8; 1 = one at a time, same results)"},
                             {"--threads", "N", "threads (default: all cores)"}},
                            generation_options(), sampling_options()}));
  if (!args.parse(argv)) {
    std::printf("%s%s", kUsage, args.help().c_str());
    return 0;
  }
  MethodDefaults defaults;
  defaults.base = args.get_or("--base", "toy-base");
  defaults.arms = args.all("--arm");
  defaults.rm = args.get_or("--rm", "");
  defaults.sampler = sampler_params(args);
  defaults.generation = generation_config(args, {});
  if (!args.has("--max-new-tokens")) defaults.generation.max_new_tokens = 40;  // the toy protocol
  ThreadPool pool(static_cast<size_t>(args.get_int("--threads", 0, 0, 1024)));
  defaults.pool = &pool;
  defaults.batch_size = static_cast<size_t>(args.get_int("--batch-size", 8, 1, 4096));

  std::vector<MethodSpec> methods;
  for (const auto& m : args.all("--method")) methods.push_back(parse_method(m));
  if (auto betas = args.get("--betas")) {
    if (defaults.arms.empty()) throw UsageError("--betas needs at least one --arm");
    for (double b : Args::parse_numbers("--betas", *betas)) {
      methods.push_back(parse_method("genarm:arms=" + defaults.arms[0] + ",beta=" + fmt_number(b)));
    }
  }
  if (args.has("--weight-grid")) {
    if (defaults.arms.size() < 2) throw UsageError("--weight-grid needs two --arm");
    const int64_t n = args.get_int("--weight-grid", 4, 1, 100);
    const double beta = args.get_double("--grid-beta", 1.0);
    for (int64_t i = 0; i <= n; ++i) {
      const double w1 = static_cast<double>(i) / static_cast<double>(n);
      methods.push_back(parse_method("genarm:arms=" + defaults.arms[0] + "/" + defaults.arms[1] +
                                     ",weights=" + fmt_number(w1) + "/" + fmt_number(1 - w1) + ",beta=" + fmt_number(beta)));
    }
  }
  std::vector<std::string> judge_arms = args.all("--judge-arm");
  if (judge_arms.empty()) judge_arms = defaults.arms;
  std::string rm = args.get_or("--rm", "");
  const std::string preset = args.get_or("--preset", "reference");
  if (preset != "reference" && preset != "comparison") {
    fail(ErrorCategory::kInvalidArgument, "--preset: '", preset, "' is not reference or comparison");
  }
  if (methods.empty()) {
    methods = preset == "reference" ? toy_reference_methods() : toy_comparison_methods();
    if (judge_arms.empty()) judge_arms = {"toy-arm-positive", "toy-arm-concise"};
    if (rm.empty()) rm = "toy-rm-positive";
  }

  const auto prompts_path = args.has("--prompts") ? std::filesystem::path(*args.get("--prompts")) : bundled_data("prompts.jsonl");
  const auto prompts = read_prompts(prompts_path, static_cast<size_t>(args.get_int("--limit", 0, 0, INT64_MAX)));
  std::optional<eval::AfinnScorer> afinn;
  try {
    afinn = eval::AfinnScorer::load(bundled_data("afinn165.json"));
  } catch (const Error&) {
    // No bundled data (an installed binary without share/): sentiment is simply not reported.
  }
  defaults.afinn = afinn;
  ModelCache cache;
  cache.set_adapter_bases(defaults.base, defaults.arms, args.all("--arm-base"));
  cache.set_weight_type(weight_type(args), &pool);
  Judges judges(cache, defaults.base, judge_arms, rm, std::move(afinn), &pool);
  EvalOptions options;
  options.out_dir = args.get_or("--out", "eval-out");
  options.resume = args.flag("--resume");
  options.seed = defaults.sampler.seed;
  std::filesystem::create_directories(options.out_dir);

  std::fprintf(stderr, "genarm eval: %zu methods x %zu prompts from %s -> %s/\n", methods.size(), prompts.size(),
               prompts_path.string().c_str(), options.out_dir.string().c_str());
  std::vector<Summary> rows;
  for (const auto& m : methods) rows.push_back(run_method_eval(m, prompts, cache, defaults, judges, options));
  print_table(rows, judges);
  write_tables(rows, judges, options.out_dir);
  const auto plots = write_plots(rows, judges, options.out_dir);
  std::printf("\nwrote %s/table.csv, table.json, results/*.jsonl", options.out_dir.string().c_str());
  for (const auto& p : plots) std::printf(", %s", p.filename().string().c_str());
  std::printf("\n");
  return 0;
}

}  // namespace genarm::cli
