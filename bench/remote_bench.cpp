// A remote base, measured: genarm serve (in this process, on a loopback port) serves toy-base as
// the engine; GenARM with the local toy-arm-positive (beta 1) decodes through RemoteSource asking
// for K log-probs per token, K in {20, 100, 1000, the vocabulary}, against local decoding.
//   fidelity  along local samples (teacher-forced): mean KL(remote || local) of the decoding
//             distribution per step (= -log of the local mass on the base's top-K), that mass,
//             and the share of steps whose local sample lies outside the top K;
//             greedy paths identical to local greedy decoding;
//             the eval figure of sampled generations (AFINN sentiment, share positive), same seeds.
//   cost      per generated token: wall time, of which HTTP exchange (engine + network + JSON on
//             both sides), the engine's own time (the server's next-token counter), parsing the
//             answer, and the local rest (ARM forward, combination, sampling); once with the
//             server's prefix cache off (every step recomputes the prompt).
// Usage: genarm_remote_bench [--prompts N (default 32)] [--tokens N (default 48)]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bench_util.hpp"
#include "genarm/core/math.hpp"
#include "genarm/eval/afinn.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/io/jsonl.hpp"
#include "genarm/remote/remote_source.hpp"
#include "genarm/server/server.hpp"

namespace genarm::bench {
namespace {

using remote::RemoteEngine;
using remote::RemoteSource;

std::filesystem::path source_path(const std::string& rel) { return std::filesystem::path(GENARM_SOURCE_DIR) / rel; }

struct Engine {
  explicit Engine(size_t prefix_cache) {
    server::ServerModels m;
    m.base = source_path("models/toy-base");
    server::ServerOptions o;
    o.port = 0;
    o.limits.max_logprobs = -1;
    o.prefix_cache = prefix_cache;
    server = std::make_unique<server::Server>(m, o);
    server->start();
  }
  ~Engine() { server->stop(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()) + "/v1"; }
  double metric(const std::string& name) const {
    const std::string text = server->metrics();
    const size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + name.size() + 2));
  }
  std::unique_ptr<server::Server> server;
};

struct Run {
  std::vector<GenerationResult> sampled, greedy;
};

template <typename Base>
GenerationResult decode(const GuidedModel& model, Base base, const Prompts& prompt, bool greedy, uint64_t seed, int tokens) {
  std::vector<TransformerSource> arms;
  arms.emplace_back(model.arms()[0]);
  GuidedPolicy<Base, TransformerSource> policy(std::move(base), std::move(arms), model.vocab_size(), Guidance{{1.0f}, 1.0f});
  sampling::SamplerParams p;
  p.greedy = greedy;
  p.seed = seed;
  sampling::Sampler sampler(p, model.vocab_size());
  GenerationConfig c;
  c.max_new_tokens = tokens;
  c.eos_token_ids = model.eos_token_ids();
  return generate(policy, sampler, model.tokenizer(), prompt, c);
}

// log softmax of z into out.
void log_softmax_of(std::span<const float> z, std::vector<double>& out) {
  const double lse = log_sum_exp(z);
  out.resize(z.size());
  for (size_t v = 0; v < z.size(); ++v) out[v] = static_cast<double>(z[v]) - lse;
}

}  // namespace
}  // namespace genarm::bench

int main(int argc, char** argv) {
  using namespace genarm;
  using namespace genarm::bench;
  size_t n_prompts = 32;
  int tokens = 48;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--prompts") == 0) n_prompts = static_cast<size_t>(std::stoul(argv[i + 1]));
    if (std::strcmp(argv[i], "--tokens") == 0) tokens = std::stoi(argv[i + 1]);
  }
  const GuidedModel model = GuidedModel::load(source_path("models/toy-base"), {source_path("models/toy-arm-positive")});
  const eval::AfinnScorer afinn = eval::AfinnScorer::load(source_path("data/afinn165.json"));
  const Tokenizer& tok = model.tokenizer();
  const size_t vocab = model.vocab_size();
  std::vector<Prompts> prompts;
  {
    io::JsonlReader reader(source_path("data/prompts.jsonl"));
    while (auto r = reader.next()) {
      if (prompts.size() == n_prompts) break;
      prompts.push_back(Prompts{tok.encode((*r)["prompt"].get<std::string>()), {}});
    }
  }
  std::printf("remote base bench: toy-base served by genarm serve over loopback, GenARM with the local toy-arm-positive "
              "(beta 1); %zu prompts x %d new tokens; vocabulary %zu\n\n", prompts.size(), tokens, vocab);

  // Local reference: sampled (seed i) and greedy paths, and the local cost per token.
  Run local;
  double local_seconds = 0, local_tokens = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const double t0 = now_seconds();
    local.sampled.push_back(decode(model, TransformerSource(model.base()), prompts[i], false, i, tokens));
    local_seconds += now_seconds() - t0;
    local_tokens += static_cast<double>(local.sampled.back().ids.size());
    local.greedy.push_back(decode(model, TransformerSource(model.base()), prompts[i], true, i, tokens));
  }
  const auto eval_of = [&](const std::vector<GenerationResult>& rs) {
    double s = 0, pos = 0;
    for (const auto& r : rs) {
      const int v = afinn.score(r.text);
      s += v;
      pos += v > 0;
    }
    return std::pair<double, double>(s / static_cast<double>(rs.size()), pos / static_cast<double>(rs.size()));
  };

  struct Row {
    std::string k;
    double kl = 0, mass = 0, outside = 0, greedy_same = 0, sentiment = 0, positive = 0;
    double wall = 0, http = 0, engine = 0, parse = 0, local = 0, kb = 0;
  };
  std::vector<Row> rows;
  const auto measure = [&](int k, size_t prefix_cache, bool fidelity) {
    Engine engine(prefix_cache);
    remote::RemoteOptions o;
    o.url = engine.url();
    o.top_k = k;
    const auto remote = RemoteEngine::connect(o, tok);
    Row row;
    row.k = (k == 0 ? "all (" + std::to_string(vocab) + ")" : std::to_string(k)) + (prefix_cache == 0 ? ", no prefix cache" : "");
    // Cost: the sampled runs, timed; their text gives the eval figure.
    std::vector<GenerationResult> sampled;
    double wall = 0, steps = 0;
    remote::RemoteStats stats;
    const double engine0 = engine.metric("genarm_next_token_seconds_total") +
                           engine.metric("genarm_engine_busy_seconds_total");
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::vector<TransformerSource> arms;
      arms.emplace_back(model.arms()[0]);
      GuidedPolicy<RemoteSource, TransformerSource> policy(RemoteSource(remote), std::move(arms), vocab, Guidance{{1.0f}, 1.0f});
      sampling::SamplerParams p;
      p.seed = i;
      sampling::Sampler sampler(p, vocab);
      GenerationConfig c;
      c.max_new_tokens = tokens;
      c.eos_token_ids = model.eos_token_ids();
      const double t0 = now_seconds();
      sampled.push_back(generate(policy, sampler, tok, prompts[i], c));
      wall += now_seconds() - t0;
      steps += static_cast<double>(sampled.back().ids.size());
      const auto s = policy.base().stats();
      stats.http.seconds += s.http.seconds;
      stats.http.bytes_received += s.http.bytes_received;
      stats.parse_seconds += s.parse_seconds;
      stats.steps += s.steps;
    }
    const double engine_seconds = engine.metric("genarm_next_token_seconds_total") +
                                  engine.metric("genarm_engine_busy_seconds_total") - engine0;
    row.wall = 1e3 * wall / steps;
    row.http = 1e3 * stats.http.seconds / steps;
    row.engine = 1e3 * engine_seconds / steps;
    row.parse = 1e3 * stats.parse_seconds / steps;
    row.local = row.wall - row.http - row.parse;
    row.kb = static_cast<double>(stats.http.bytes_received) / static_cast<double>(stats.steps) / 1024.0;
    std::tie(row.sentiment, row.positive) = eval_of(sampled);
    if (fidelity) {
      // Teacher-forced along the local samples.
      double kl = 0, mass = 0, outside = 0, n = 0;
      std::vector<double> lp_local, lp_remote;
      for (size_t i = 0; i < prompts.size(); ++i) {
        std::vector<TransformerSource> la, ra;
        la.emplace_back(model.arms()[0]);
        ra.emplace_back(model.arms()[0]);
        GuidedPolicy<TransformerSource> lpol(TransformerSource(model.base()), std::move(la), vocab, Guidance{{1.0f}, 1.0f});
        GuidedPolicy<RemoteSource, TransformerSource> rpol(RemoteSource(remote), std::move(ra), vocab, Guidance{{1.0f}, 1.0f});
        lpol.start(prompts[i].base);
        rpol.start(prompts[i].base);
        for (int32_t t : local.sampled[i].ids) {
          log_softmax_of(lpol.next_logits(), lp_local);
          log_softmax_of(rpol.next_logits(), lp_remote);
          double step_kl = 0, step_mass = 0;
          for (size_t v = 0; v < vocab; ++v) {
            if (!std::isfinite(lp_remote[v])) continue;
            step_kl += std::exp(lp_remote[v]) * (lp_remote[v] - lp_local[v]);
            step_mass += std::exp(lp_local[v]);
          }
          kl += step_kl;
          mass += step_mass;
          outside += std::isfinite(lp_remote[static_cast<size_t>(t)]) ? 0 : 1;
          n += 1;
          lpol.advance(t);
          rpol.advance(t);
        }
      }
      row.kl = kl / n;
      row.mass = mass / n;
      row.outside = outside / n;
      double same = 0;
      for (size_t i = 0; i < prompts.size(); ++i) {
        same += decode(model, RemoteSource(remote), prompts[i], true, i, tokens).ids == local.greedy[i].ids;
      }
      row.greedy_same = same / static_cast<double>(prompts.size());
    }
    rows.push_back(row);
  };
  for (int k : {20, 100, 1000, 0}) measure(k, 8, true);
  measure(20, 0, false);

  const auto [ls, lpos] = eval_of(local.sampled);
  std::printf("Fidelity (decoding distribution vs local, along local samples; greedy paths; eval of sampled text):\n\n");
  std::printf("| K | mean KL(remote ‖ local) per step | local mass in top-K | local sample outside top-K | greedy paths identical | sentiment | positive |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf("| local | 0 | 1 | 0 | 100%% | %.2f | %.1f%% |\n", ls, 100 * lpos);
  for (const auto& r : rows) {
    if (r.k.find("no prefix") != std::string::npos) continue;
    // KL below 1e-6 is the float rounding of the engine's log-softmax (it prints as 0).
    std::printf("| %s | %.3g nats | %.4f | %.2f%% | %.0f%% | %.2f | %.1f%% |\n", r.k.c_str(), r.kl < 1e-6 ? 0.0 : r.kl, r.mass, 100 * r.outside,
                100 * r.greedy_same, r.sentiment, 100 * r.positive);
  }
  std::printf("\nCost per generated token (ms; loopback, 1 engine thread):\n\n");
  std::printf("| K | total | HTTP exchange | of which engine | parse answer | local ARM + combine + sample | answer size |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf("| local | %.2f | - | - | - | %.2f (base + ARM) | - |\n", 1e3 * local_seconds / local_tokens,
              1e3 * local_seconds / local_tokens);
  for (const auto& r : rows) {
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f KiB |\n", r.k.c_str(), r.wall, r.http, r.engine, r.parse,
                r.local, r.kb);
  }
  return 0;
}
