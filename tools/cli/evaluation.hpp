// The evaluation behind `genarm eval` and `genarm demo`: runs methods over prompts, scores each
// generation (AFINN sentiment, length, ARM rewards, a trajectory RM's score), writes one JSON line
// per generation as it completes (so a re-run can resume), then summarises into a table (terminal,
// CSV, JSON) and SVG plots.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <numeric>

#include "genarm/eval/afinn.hpp"
#include "genarm/generate/result_json.hpp"
#include "genarm/eval/svg_plot.hpp"
#include "genarm/guidance/arm_reward.hpp"
#include "genarm/io/jsonl.hpp"
#include "batch_output.hpp"
#include "methods.hpp"

namespace genarm::cli {

struct EvalPrompt {
  nlohmann::json id;
  std::string text;
};

inline std::vector<EvalPrompt> read_prompts(const std::filesystem::path& path, size_t limit) {
  io::JsonlReader reader(path);
  std::vector<EvalPrompt> out;
  while (auto record = reader.next()) {
    const io::JsonView v(*record, reader.where(), ErrorCategory::kFormat);
    v.expect_object();
    EvalPrompt p;
    p.id = record->contains("id") ? (*record)["id"] : nlohmann::json(out.size());
    p.text = v.at("prompt").as_string();
    out.push_back(std::move(p));
    if (limit > 0 && out.size() >= limit) break;
  }
  if (out.empty()) fail(ErrorCategory::kFormat, path.string(), ": no prompts");
  return out;
}

// Scores generations: sentiment, ARM rewards, RM score. Judges are loaded once; a group of
// generations is scored in batched passes over each judge's weights.
class Judges {
 public:
  // The judges read the token ids of `base`'s tokenizer: each must share it (Tokenizer::compare),
  // and ARM rewards are log-softmaxes over its vocabulary, as in guided decoding.
  Judges(ModelCache& cache, const std::string& base, const std::vector<std::string>& arms, const std::string& rm,
         std::optional<eval::AfinnScorer> afinn, ThreadPool* pool)
      : afinn_(std::move(afinn)), pool_(pool) {
    const Tokenizer& base_tokenizer = cache.tokenizer(base);
    const std::string base_name = resolve_model(base).string();
    vocab_ = base_tokenizer.vocab_size();
    for (const auto& a : arms) {
      check_reads_base_ids(base_tokenizer, base_name, cache.tokenizer(a), "ARM", resolve_model(a).string(),
                           "a judging ARM must read the same token ids");
      arm_names_.push_back(std::filesystem::path(resolve_model(a)).filename().string());
      arms_.push_back(cache.model(a));
    }
    if (!rm.empty()) {
      check_reads_base_ids(base_tokenizer, base_name, cache.tokenizer(rm), "reward model", resolve_model(rm).string(),
                           "it must read the same token ids");
      rm_name_ = std::filesystem::path(resolve_model(rm)).filename().string();
      rm_ = std::make_unique<TrajectoryReward>(cache.model(rm));
      rm_->set_thread_pool(pool);
    }
  }

  bool has_sentiment() const { return afinn_.has_value(); }
  const std::vector<std::string>& arm_names() const { return arm_names_; }
  const std::string& rm_name() const { return rm_name_; }

  // Adds the scores of generation i (after prompts[i]) to out[i].
  void score(std::span<const std::vector<int32_t>> prompts, std::span<const GenerationResult> results,
             std::span<nlohmann::json> out) {
    for (size_t i = 0; i < results.size(); ++i) {
      if (afinn_) out[i]["sentiment"] = afinn_->score(results[i].text);
    }
    if (!arms_.empty()) {
      std::vector<ScoreItem> items;
      for (size_t i = 0; i < results.size(); ++i) items.push_back({prompts[i], results[i].ids});
      for (size_t i = 0; i < results.size(); ++i) out[i]["arm_rewards"] = nlohmann::json::object();
      for (size_t a = 0; a < arms_.size(); ++a) {
        const auto scores = arm_scores(arms_[a], items, vocab_, pool_);
        for (size_t i = 0; i < results.size(); ++i) out[i]["arm_rewards"][arm_names_[a]] = scores[i].reward;
      }
    }
    if (rm_) {
      std::vector<std::pair<std::span<const int32_t>, std::span<const int32_t>>> items;
      for (size_t i = 0; i < results.size(); ++i) items.emplace_back(prompts[i], results[i].ids);
      const auto scores = rm_->score_batch(items);
      for (size_t i = 0; i < results.size(); ++i) out[i]["rm_score"] = scores[i];
    }
  }

 private:
  std::optional<eval::AfinnScorer> afinn_;
  ThreadPool* pool_;
  std::vector<std::string> arm_names_;
  std::vector<model::Transformer> arms_;
  size_t vocab_ = 0;
  std::string rm_name_;
  std::unique_ptr<TrajectoryReward> rm_;
};

// A method's aggregate over its result lines.
struct Summary {
  std::string label;
  MethodSpec spec;
  size_t n = 0;
  double sentiment = 0, positive = 0, new_tokens = 0, seconds = 0, rm = 0;
  std::map<std::string, double> arm_rewards;
  double ms_per_token() const { return new_tokens > 0 ? 1000.0 * seconds / new_tokens : 0; }  // both are means
};

inline std::string slug(const std::string& label) {
  std::string s;
  for (char c : label) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  return s;
}

inline Summary summarise(const MethodSpec& spec, const std::filesystem::path& results) {
  Summary s;
  s.label = spec.label;
  s.spec = spec;
  io::JsonlReader reader(results);
  while (auto line = reader.next()) {
    const auto& j = *line;
    ++s.n;
    if (j.contains("sentiment")) {
      const double v = j["sentiment"].get<double>();
      s.sentiment += v;
      s.positive += v > 0 ? 1 : 0;
    }
    s.new_tokens += j.value("new_tokens", 0.0);
    s.seconds += j.value("seconds", 0.0);
    if (j.contains("rm_score")) s.rm += j["rm_score"].get<double>();
    if (j.contains("arm_rewards")) {
      for (const auto& [name, v] : j["arm_rewards"].items()) s.arm_rewards[name] += v.get<double>();
    }
  }
  if (s.n > 0) {
    const double n = static_cast<double>(s.n);
    s.sentiment /= n, s.positive /= n, s.new_tokens /= n, s.rm /= n;
    s.seconds /= n;
    for (auto& [name, v] : s.arm_rewards) v /= n;
  }
  return s;
}

struct EvalOptions {
  std::filesystem::path out_dir;
  bool resume = false;
  uint64_t seed = 0;
  bool quiet = false;
};

// Runs `spec` over `prompts` through the batch engine, writing out_dir/results/<slug>.jsonl in
// prompt order as results complete (with --resume, keeping the lines already there and running
// only the missing prompts), each group of results scored by the judges in batched passes; then
// summarises the file.
inline Summary run_method_eval(const MethodSpec& spec, const std::vector<EvalPrompt>& prompts, ModelCache& cache,
                               const MethodDefaults& defaults, Judges& judges, const EvalOptions& options) {
  const auto dir = options.out_dir / "results";
  std::filesystem::create_directories(dir);
  const auto path = dir / (slug(spec.label) + ".jsonl");
  std::set<size_t> skipped;
  if (options.resume) {
    const auto finished = finished_ids(path);
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (finished.count(prompts[i].id.dump())) skipped.insert(i);
    }
  }
  MethodRunner runner(spec, cache, defaults);
  std::vector<std::vector<int32_t>> encoded(prompts.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (skipped.count(i)) continue;
    encoded[i] = runner.tokenizer().encode(prompts[i].text);
    todo.push_back(i);
  }
  io::JsonlWriter writer(path, options.resume);
  OrderedWriter ordered(writer);
  std::optional<Progress> progress;
  if (!options.quiet) progress.emplace(spec.label, prompts.size(), skipped.size());
  size_t done = skipped.size();
  double tokens = 0;
  // Finished generations wait in a group until it is worth a batched pass of the judges.
  const size_t group = std::max<size_t>(defaults.batch_size, 1);
  std::vector<size_t> indices;
  std::vector<std::vector<int32_t>> group_prompts;
  std::vector<GenerationResult> results;
  const auto flush = [&] {
    if (results.empty()) return;
    std::vector<nlohmann::json> lines(results.size());
    judges.score(group_prompts, results, lines);
    for (size_t k = 0; k < results.size(); ++k) {
      nlohmann::json out = to_json(results[k]);
      out["id"] = prompts[indices[k]].id;
      out["prompt"] = prompts[indices[k]].text;
      out["method"] = spec.label;
      out.update(lines[k]);
      ordered.add(indices[k], std::move(out), skipped);
      tokens += static_cast<double>(results[k].ids.size());
      ++done;
    }
    if (progress) progress->update(done, tokens);
    indices.clear();
    group_prompts.clear();
    results.clear();
  };
  runner.run_all(todo, [&](size_t i) { return Prompts{encoded[i], {}}; }, options.seed,
                 [&](size_t i, GenerationResult r) {
                   indices.push_back(i);
                   group_prompts.push_back(encoded[i]);
                   results.push_back(std::move(r));
                   if (results.size() >= group) flush();
                 });
  flush();
  if (progress && todo.empty()) progress->update(done, tokens);
  return summarise(spec, path);
}

inline void print_table(const std::vector<Summary>& rows, const Judges& judges) {
  std::printf("\n%-50s %5s", "method", "n");
  if (judges.has_sentiment()) std::printf(" %10s %9s", "sentiment", "positive");
  std::printf(" %10s", "new tok");
  for (const auto& a : judges.arm_names()) std::printf(" %16.16s", ("r:" + a).c_str());
  if (!judges.rm_name().empty()) std::printf(" %12.12s", ("rm:" + judges.rm_name()).c_str());
  std::printf(" %9s\n", "ms/token");
  for (const auto& s : rows) {
    std::printf("%-50.50s %5zu", s.label.c_str(), s.n);
    if (judges.has_sentiment()) std::printf(" %10.2f %8.1f%%", s.sentiment, 100 * s.positive);
    std::printf(" %10.1f", s.new_tokens);
    for (const auto& a : judges.arm_names()) {
      auto it = s.arm_rewards.find(a);
      std::printf(" %16.2f", it == s.arm_rewards.end() ? 0.0 : it->second);
    }
    if (!judges.rm_name().empty()) std::printf(" %12.3f", s.rm);
    std::printf(" %9.2f\n", s.ms_per_token());
  }
}

inline void write_tables(const std::vector<Summary>& rows, const Judges& judges, const std::filesystem::path& dir) {
  nlohmann::json all = nlohmann::json::array();
  std::string csv = "method,n,sentiment,positive,new_tokens,ms_per_token,rm_score";
  for (const auto& a : judges.arm_names()) csv += ",arm_reward:" + a;
  csv += "\n";
  for (const auto& s : rows) {
    nlohmann::json j{{"method", s.label}, {"n", s.n}, {"new_tokens", s.new_tokens}, {"ms_per_token", s.ms_per_token()}};
    if (judges.has_sentiment()) j["sentiment"] = s.sentiment, j["positive"] = s.positive;
    if (!judges.rm_name().empty()) j["rm_score"] = s.rm;
    j["arm_rewards"] = s.arm_rewards;
    all.push_back(j);
    char buf[256];
    std::snprintf(buf, sizeof buf, "\"%s\",%zu,%.4f,%.4f,%.3f,%.4f,%.4f", s.label.c_str(), s.n, s.sentiment, s.positive,
                  s.new_tokens, s.ms_per_token(), s.rm);
    csv += buf;
    for (const auto& a : judges.arm_names()) {
      auto it = s.arm_rewards.find(a);
      csv += "," + std::to_string(it == s.arm_rewards.end() ? 0.0 : it->second);
    }
    csv += "\n";
  }
  std::ofstream(dir / "table.json") << all.dump(2) << "\n";
  std::ofstream(dir / "table.csv") << csv;
}

// reward_vs_beta.svg: each ARM set's GenARM runs over beta (base as reference);
// pareto.svg: runs with two ARMs, one point per weight setting, objective 1 vs objective 2.
inline std::vector<std::filesystem::path> write_plots(const std::vector<Summary>& rows, const Judges& judges,
                                                      const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> written;
  const bool sentiment = judges.has_sentiment();
  const auto objective = [&](const Summary& s) {
    if (sentiment) return s.sentiment;
    return s.arm_rewards.empty() ? 0.0 : s.arm_rewards.begin()->second;
  };
  const std::string y_name = sentiment ? "mean AFINN sentiment" : "mean reward (" + judges.arm_names().front() + ")";
  // Reward vs beta, per single-ARM set.
  std::map<std::string, eval::PlotSeries> by_arm;
  for (const auto& s : rows) {
    if (s.spec.kind != "genarm" || s.spec.arms.size() > 1 || !s.spec.weights.empty()) continue;
    const std::string arm = s.spec.arms.empty() ? "GenARM" : "GenARM " + s.spec.arms[0];
    auto& series = by_arm[arm];
    series.name = arm;
    series.x.push_back(s.spec.beta);
    series.y.push_back(objective(s));
    series.labels.push_back("");
  }
  if (!by_arm.empty() && (sentiment || !judges.arm_names().empty())) {
    eval::SvgPlot plot("Reward vs beta (GenARM, lower beta = stronger guidance)", "beta (log scale)", y_name);
    plot.set_log_x(true);
    for (auto& [name, series] : by_arm) {
      std::vector<size_t> order(series.x.size());
      std::iota(order.begin(), order.end(), 0);
      const std::vector<double>& xs = series.x;  // (clang 14 cannot capture a structured binding)
      std::sort(order.begin(), order.end(), [&xs](size_t a, size_t b) { return xs[a] < xs[b]; });
      eval::PlotSeries sorted{series.name, {}, {}, {}, true};
      for (size_t i : order) sorted.x.push_back(series.x[i]), sorted.y.push_back(series.y[i]);
      if (sorted.x.size() > 0) plot.add(sorted);
    }
    for (const auto& s : rows) {
      if (s.spec.kind == "base" && s.spec.model.empty()) plot.add_reference("base alone (no guidance)", objective(s));
    }
    plot.write(dir / "reward_vs_beta.svg");
    written.push_back(dir / "reward_vs_beta.svg");
  }
  // Pareto front across weights of two ARMs.
  eval::PlotSeries front{"GenARM, weights w1/w2", {}, {}, {}, true};
  std::vector<std::pair<double, size_t>> order;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& s = rows[i];
    if (s.spec.kind == "genarm" && s.spec.weights.size() == 2) order.emplace_back(s.spec.weights[0], i);
  }
  if (order.size() >= 2) {
    std::sort(order.begin(), order.end());
    const bool use_length = sentiment;  // toy family: positive vs concise (fewer tokens)
    for (const auto& [w, i] : order) {
      const auto& s = rows[i];
      front.x.push_back(objective(s));
      front.y.push_back(use_length ? s.new_tokens
                                   : (s.arm_rewards.size() > 1 ? std::next(s.arm_rewards.begin())->second : 0.0));
      char label[64];
      std::snprintf(label, sizeof label, "%g/%g", s.spec.weights[0], s.spec.weights[1]);
      front.labels.push_back(label);
    }
    eval::SvgPlot plot("Trade-off across ARM weights (one decoding run per point, no retraining)", y_name,
                       use_length ? "mean new tokens (lower = more concise)" : "mean reward (ARM 2)");
    plot.add(front);
    plot.write(dir / "pareto.svg");
    written.push_back(dir / "pareto.svg");
  }
  return written;
}

// The toy family's method sets (models/MODELS.md):
//   reference:  base; GenARM positive at beta 2, 1, 0.5; concise at beta 1; positive 0.5 + concise
//               0.5 at beta 0.5 (the first table);
//   comparison: base; GenARM positive at beta 1 and 0.5; best-of-4 by toy-rm-positive; ARGS greedy
//               and stochastic (k 10, w 1.5, toy-rm-positive); the DPO policy alone (the second).
inline std::vector<MethodSpec> toy_comparison_methods() {
  std::vector<MethodSpec> m;
  for (const char* spec : {"base", "genarm:arms=toy-arm-positive,beta=1", "genarm:arms=toy-arm-positive,beta=0.5",
                           "best-of-n:n=4,reward=rm,rm=toy-rm-positive", "args:k=10,w=1.5,rm=toy-rm-positive",
                           "args:k=10,w=1.5,rm=toy-rm-positive,sample=1", "base:model=toy-dpo-positive"}) {
    m.push_back(parse_method(spec));
  }
  return m;
}

inline std::vector<MethodSpec> toy_reference_methods() {
  std::vector<MethodSpec> m;
  for (const char* spec : {"base", "genarm:arms=toy-arm-positive,beta=2", "genarm:arms=toy-arm-positive,beta=1",
                           "genarm:arms=toy-arm-positive,beta=0.5", "genarm:arms=toy-arm-concise,beta=1",
                           "genarm:arms=toy-arm-positive/toy-arm-concise,weights=0.5/0.5,beta=0.5"}) {
    m.push_back(parse_method(spec));
  }
  return m;
}

}  // namespace genarm::cli
