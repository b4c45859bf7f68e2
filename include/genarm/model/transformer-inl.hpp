// Out-of-line definitions of transformer.hpp (see core/compiled.hpp): the forward pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "genarm/io/checkpoint.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm::model {

GENARM_INLINE Transformer Transformer::load(const std::filesystem::path& dir) {
  const io::ModelConfig config = io::read_model_config(dir);
  const auto checkpoint = io::Checkpoint::open(dir);
  const auto config_path = (std::filesystem::is_directory(dir) ? dir / "config.json" : dir).string();
  Transformer t(load_transformer_weights(config, checkpoint, config_path));
  t.name_ = std::filesystem::path(dir).filename().string();
  if (t.name_.empty()) t.name_ = std::filesystem::path(dir).parent_path().filename().string();
  return t;
}

GENARM_INLINE Transformer::Transformer(std::shared_ptr<const TransformerWeights> weights) : weights_(std::move(weights)) {}

GENARM_INLINE SequenceState Transformer::new_sequence(int64_t capacity) const {
  return SequenceState(config(), std::max<int64_t>(capacity, 1));
}

GENARM_INLINE void Transformer::forward_all(SequenceState& s, std::span<const int32_t> tokens, RowMatrix& logits) const {
  if (is_reward_model()) {
    fail(ErrorCategory::kInvalidArgument, name_, ": a reward model has no next-token logits");
  }
  logits.resize(static_cast<Eigen::Index>(tokens.size()), vocab_size());
  run(s, tokens, logits.data());
}

GENARM_INLINE void Transformer::forward_siblings(SequenceState& s, std::span<const int32_t> candidates, std::span<float> rewards, RowMatrix* logits) const {
  check_state(s);
  if (candidates.empty()) fail(ErrorCategory::kInvalidArgument, name_, ": forward_siblings without candidates");
  if (is_reward_model() && rewards.size() != candidates.size()) {
    fail(ErrorCategory::kInvalidArgument, name_, ": ", rewards.size(), " reward slots for ", candidates.size(),
         " candidates");
  }
  for (int32_t c : candidates) {
    if (c < 0 || c >= vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, name_, ": candidate token id ", c, " is outside the vocabulary of ",
           vocab_size(), " ids");
    }
  }
  if (s.length() + 1 > s.max_length_) {
    fail(ErrorCategory::kInvalidArgument, name_, ": a sequence of ", s.length() + 1,
         " tokens exceeds the model's context of ", s.max_length_, " positions (max_position_embeddings in config.json)");
  }
  // The candidates' keys and values go right after the sequence: make room without exceeding
  // the context limit for the sequence itself.
  const int64_t need = s.length() + static_cast<int64_t>(candidates.size());
  if (need > s.capacity_) s.grow(std::max(need, std::min(s.max_length_, 2 * s.capacity_)));
  s.sibling_tokens_.assign(candidates.begin(), candidates.end());
  s.sibling_scores_.resize(is_reward_model() ? candidates.size() : 0);
  s.sibling_base_ = s.length();
  forward_chunk(s, candidates, nullptr, true, /*siblings=*/true);
  if (is_reward_model()) {
    for (size_t j = 0; j < candidates.size(); ++j) {
      const auto& pad = config().pad_token_id;
      // A pad candidate is pooled away: the reward stays the prefix's (transformers' pooling).
      rewards[j] = (pad && candidates[j] == *pad && s.length() > 0) ? reward(s) : s.sibling_scores_[j];
    }
  } else if (logits != nullptr) {
    *logits = Eigen::Map<const RowMatrix>(s.sibling_logits_.data(), static_cast<Eigen::Index>(candidates.size()),
                                         vocab_size());
  }
}

GENARM_INLINE void Transformer::append_sibling(SequenceState& s, size_t index) const {
  if (s.sibling_base_ != s.length() || index >= s.sibling_tokens_.size()) {
    fail(ErrorCategory::kInvalidArgument, name_, ": append_sibling(", index,
         ") without a matching forward_siblings on this state");
  }
  const int64_t p = s.length();
  if (index != 0) {
    const int64_t d = s.head_dim_;
    for (int64_t l = 0; l < s.layers_; ++l) {
      for (int64_t g = 0; g < s.kv_heads_; ++g) {
        std::copy_n(s.k_cache(l, g) + (p + static_cast<int64_t>(index)) * d, d, s.k_cache(l, g) + p * d);
        std::copy_n(s.v_cache(l, g) + (p + static_cast<int64_t>(index)) * d, d, s.v_cache(l, g) + p * d);
      }
    }
  }
  s.tokens_.push_back(s.sibling_tokens_[index]);
  if (is_reward_model()) {
    s.scores_.push_back(s.sibling_scores_[index]);
  } else {
    std::copy_n(s.sibling_logits_.data() + index * static_cast<size_t>(vocab_size()), vocab_size(), s.logits_.data());
  }
  s.sibling_base_ = -1;
}

GENARM_INLINE float Transformer::reward(const SequenceState& s) const {
  if (!is_reward_model()) {
    fail(ErrorCategory::kInvalidArgument, name_, " is ", config().architecture,
         ", not a sequence-classification reward model");
  }
  if (s.length() == 0) fail(ErrorCategory::kInvalidArgument, name_, ": reward of an empty sequence");
  // The rightmost non-pad token; position 0 when every token is padding (transformers' argmax).
  const auto& pad = config().pad_token_id;
  int64_t pooled = pad ? 0 : s.length() - 1;
  for (int64_t t = s.length() - 1; pad && t > 0; --t) {
    if (s.tokens_[static_cast<size_t>(t)] != *pad) {
      pooled = t;
      break;
    }
  }
  return s.scores_[static_cast<size_t>(pooled)];
}

GENARM_INLINE Transformer::Scratch Transformer::scratch(SequenceState& s, int64_t rows) const {
  const auto& c = config();
  const int64_t workers = s.pool_ ? static_cast<int64_t>(s.pool_->size()) : 1;
  const int64_t h = c.hidden_size, qd = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size;
  const int64_t score_stride = rows * s.capacity_;
  const size_t need = static_cast<size_t>(rows * (3 * h + 2 * qd + 2 * kv + 2 * in) +
                                          workers * score_stride);
  if (s.scratch_.size() < need) s.scratch_.resize(need);
  float* p = s.scratch_.data();
  auto take = [&](int64_t n) {
    float* r = p;
    p += n;
    return r;
  };
  Scratch w{};
  w.x = take(rows * h);
  w.xn = take(rows * h);
  w.tmp = take(rows * h);
  w.q = take(rows * qd);
  w.att = take(rows * qd);
  w.k = take(rows * kv);
  w.v = take(rows * kv);
  w.a = take(rows * in);
  w.b = take(rows * in);
  w.scores = take(workers * score_stride);
  w.score_stride = score_stride;
  return w;
}

GENARM_INLINE void Transformer::check_tokens(const SequenceState& s, std::span<const int32_t> tokens) const {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, name_, ": token id ", tokens[i], " (position ",
           s.length() + static_cast<int64_t>(i), ") is outside the vocabulary of ", vocab_size(),
           " ids");
    }
  }
  const int64_t total = s.length() + static_cast<int64_t>(tokens.size());
  if (total > s.max_length_) {
    fail(ErrorCategory::kInvalidArgument, name_, ": a sequence of ", total,
         " tokens exceeds the model's context of ", s.max_length_,
         " positions (max_position_embeddings in config.json)");
  }
}

GENARM_INLINE void Transformer::check_state(const SequenceState& s) const {
  if (s.layers_ != config().num_hidden_layers || s.head_dim_ != config().head_dim ||
      s.kv_heads_ != config().num_key_value_heads) {
    fail(ErrorCategory::kInvalidArgument, name_, ": the sequence state belongs to another model");
  }
}

GENARM_INLINE void Transformer::run(SequenceState& s, std::span<const int32_t> tokens, float* all_logits) const {
  check_state(s);
  s.sibling_base_ = -1;
  if (tokens.empty()) return;
  check_tokens(s, tokens);
  s.reserve(s.length() + static_cast<int64_t>(tokens.size()));
  for (size_t begin = 0; begin < tokens.size(); begin += kChunk) {
    const size_t n = std::min<size_t>(kChunk, tokens.size() - begin);
    const bool last_chunk = begin + n == tokens.size();
    float* rows_out = all_logits ? all_logits + begin * static_cast<size_t>(vocab_size()) : nullptr;
    forward_chunk(s, tokens.subspan(begin, n), rows_out, last_chunk);
  }
}

GENARM_INLINE void Transformer::forward_chunk(SequenceState& s, std::span<const int32_t> tokens, float* all_logits, bool last_chunk, bool siblings) const {
  const auto& c = config();
  const auto& w = *weights_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t p0 = s.length();
  const int64_t h = c.hidden_size;
  ThreadPool* pool = s.pool_;
  Scratch sc = scratch(s, n);

  // Embeddings (+ learned positions).
  for (int64_t t = 0; t < n; ++t) {
    float* row = sc.x + t * h;
    w.embed.row(tokens[static_cast<size_t>(t)], row);
    if (!w.position_embed.empty()) {
      thread_local std::vector<float> pos;
      pos.resize(static_cast<size_t>(h));
      w.position_embed.row(siblings ? p0 : p0 + t, pos.data());
      for (int64_t i = 0; i < h; ++i) row[i] += pos[static_cast<size_t>(i)];
    }
  }
  if (!siblings) {
    for (size_t i = 0; i < tokens.size(); ++i) s.tokens_.push_back(tokens[i]);
  }

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    normalize(L.attn_norm, sc.x, sc.xn, n);
    attention(s, L, l, sc, n, p0, siblings);
    add_rows(sc.x, sc.tmp, n, h);
    normalize(L.mlp_norm, sc.x, sc.xn, n);
    mlp(L, sc, n, pool);
    add_rows(sc.x, sc.tmp, n, h);
  }

  if (is_reward_model()) {
    if (siblings) {
      for (int64_t t = 0; t < n; ++t) s.sibling_scores_[static_cast<size_t>(t)] = score_row(sc, t);
    } else {
      update_score(s, tokens, sc);
    }
    return;
  }
  if (siblings) {
    s.sibling_logits_.resize(static_cast<size_t>(n * vocab_size()));
    normalize(w.final_norm, sc.x, sc.xn, n);
    w.lm_head.matmul(sc.xn, n, h, s.sibling_logits_.data(), vocab_size(), pool);
    return;
  }
  if (all_logits != nullptr) {
    normalize(w.final_norm, sc.x, sc.xn, n);
    w.lm_head.matmul(sc.xn, n, h, all_logits, vocab_size(), pool);
    if (last_chunk) {
      std::copy_n(all_logits + (n - 1) * vocab_size(), vocab_size(), s.logits_.data());
    }
  } else if (last_chunk) {
    normalize(w.final_norm, sc.x + (n - 1) * h, sc.xn, 1);
    w.lm_head.matvec(sc.xn, s.logits_.data(), pool);
  }
}

GENARM_INLINE void Transformer::update_score(SequenceState& s, std::span<const int32_t> tokens, const Scratch& sc) const {
  for (int64_t t = 0; t < static_cast<int64_t>(tokens.size()); ++t) s.scores_.push_back(score_row(sc, t));
}

GENARM_INLINE float Transformer::score_row(const Scratch& sc, int64_t t) const {
  const int64_t h = config().hidden_size;
  normalize(weights_->final_norm, sc.x + t * h, sc.xn, 1);
  double sum = 0.0;
  for (int64_t i = 0; i < h; ++i) sum += static_cast<double>(weights_->score[static_cast<size_t>(i)]) * sc.xn[i];
  return static_cast<float>(sum);
}

GENARM_INLINE void Transformer::normalize(const NormWeights& norm, const float* x, float* out, int64_t n) const {
  const int64_t h = config().hidden_size;
  const double eps = config().norm_eps;
  const bool layer_norm = weights_->spec->norm == NormKind::kLayer;
  for (int64_t t = 0; t < n; ++t) {
    const float* xr = x + t * h;
    float* o = out + t * h;
    if (layer_norm) {
      double mean = 0.0;
      for (int64_t i = 0; i < h; ++i) mean += xr[i];
      mean /= static_cast<double>(h);
      double var = 0.0;
      for (int64_t i = 0; i < h; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= static_cast<double>(h);
      const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
      const float m = static_cast<float>(mean);
      for (int64_t i = 0; i < h; ++i) {
        const size_t k = static_cast<size_t>(i);
        o[i] = (xr[i] - m) * inv * norm.weight[k] + norm.bias[k];
      }
    } else {
      double ss = 0.0;
      for (int64_t i = 0; i < h; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(h) + eps));
      for (int64_t i = 0; i < h; ++i) o[i] = norm.weight[static_cast<size_t>(i)] * (xr[i] * inv);
    }
  }
}

GENARM_INLINE void Transformer::add_rows(float* x, const float* delta, int64_t n, int64_t h) {
  for (int64_t i = 0; i < n * h; ++i) x[i] += delta[i];
}

GENARM_INLINE void Transformer::add_bias(float* y, const std::vector<float>& bias, int64_t n, int64_t dim) {
  if (bias.empty()) return;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += bias[static_cast<size_t>(i)];
  }
}

GENARM_INLINE void Transformer::linear(const WeightMatrix& m, const std::vector<float>& bias, const float* x, int64_t n, float* y, ThreadPool* pool) {
  m.matmul(x, n, m.cols(), y, m.rows(), pool);
  add_bias(y, bias, n, m.rows());
}

GENARM_INLINE void Transformer::apply_rope(float* x, int64_t n, int64_t heads, int64_t p0, bool same_position) const {
  const auto& inv = weights_->rope_inv_freq;
  const int64_t d = config().head_dim, half = d / 2;
  thread_local std::vector<float> cos_sin;
  cos_sin.resize(static_cast<size_t>(2 * half));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(same_position ? p0 : p0 + t) * inv[static_cast<size_t>(i)];
      cos_sin[static_cast<size_t>(i)] = std::cos(angle);
      cos_sin[static_cast<size_t>(half + i)] = std::sin(angle);
    }
    for (int64_t hd = 0; hd < heads; ++hd) {
      float* v = x + (t * heads + hd) * d;
      for (int64_t i = 0; i < half; ++i) {
        const float cs = cos_sin[static_cast<size_t>(i)], sn = cos_sin[static_cast<size_t>(half + i)];
        const float a = v[i], b = v[i + half];
        v[i] = a * cs - b * sn;
        v[i + half] = b * cs + a * sn;
      }
    }
  }
}

GENARM_INLINE void Transformer::attention(SequenceState& s, const LayerWeights& L, int64_t layer, const Scratch& sc, int64_t n, int64_t p0, bool siblings) const {
  const auto& c = config();
  ThreadPool* pool = s.pool_;
  const int64_t d = c.head_dim, qd = c.q_dim(), kv = c.kv_dim();
  const int64_t heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  linear(L.q, L.q_bias, sc.xn, n, sc.q, pool);
  linear(L.k, L.k_bias, sc.xn, n, sc.k, pool);
  linear(L.v, L.v_bias, sc.xn, n, sc.v, pool);
  if (weights_->spec->positions == PositionKind::kRotary) {
    apply_rope(sc.q, n, heads, p0, siblings);
    apply_rope(sc.k, n, kv_heads, p0, siblings);
  }
  for (int64_t g = 0; g < kv_heads; ++g) {
    float* kc = s.k_cache(layer, g) + p0 * d;
    float* vc = s.v_cache(layer, g) + p0 * d;
    for (int64_t t = 0; t < n; ++t) {
      std::copy_n(sc.k + t * kv + g * d, d, kc + t * d);
      std::copy_n(sc.v + t * kv + g * d, d, vc + t * d);
    }
  }

  float scale = 1.0f;
  if (c.family == io::ModelFamily::kGpt2) {
    if (c.scale_attn_weights) scale /= std::sqrt(static_cast<float>(d));
    if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(layer + 1);
  } else {
    scale = 1.0f / std::sqrt(static_cast<float>(d));
  }
  const int64_t group = heads / kv_heads;
  const int64_t window = c.sliding_window.value_or(0);
  const int64_t len = p0 + n;

  auto heads_body = [&](size_t begin, size_t end, size_t worker) {
    float* scores = sc.scores + static_cast<int64_t>(worker) * sc.score_stride;
    using Stride = Eigen::OuterStride<>;
    for (size_t hh = begin; hh < end; ++hh) {
      const int64_t head = static_cast<int64_t>(hh);
      const int64_t g = head / group;
      ConstRowMatrixMap keys(s.k_cache(layer, g), len, d);
      ConstRowMatrixMap values(s.v_cache(layer, g), len, d);
      Eigen::Map<const RowMatrix, 0, Stride> q(sc.q + head * d, n, d, Stride(qd));
      Eigen::Map<RowMatrix, 0, Stride> out(sc.att + head * d, n, d, Stride(qd));
      RowMatrixMap p(scores, n, len);
      p.noalias() = q * keys.transpose();
      for (int64_t t = 0; t < n; ++t) {
        // Visible keys: [lo, hi] plus, for a sibling, its own slot.
        const int64_t pos = siblings ? p0 : p0 + t;
        const int64_t lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        const int64_t hi = siblings ? p0 - 1 : pos;
        const int64_t self = siblings ? p0 + t : -1;
        float* row = scores + t * len;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = lo; j <= hi; ++j) mx = std::max(mx, row[j] *= scale);
        if (self >= 0) mx = std::max(mx, row[self] *= scale);
        float sum = 0.0f;
        for (int64_t j = 0; j < len; ++j) {
          if ((j < lo || j > hi) && j != self) {
            row[j] = 0.0f;
          } else {
            row[j] = std::exp(row[j] - mx);
            sum += row[j];
          }
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < len; ++j) row[j] *= inv;
      }
      out.noalias() = p * values;
    }
  };
  if (pool != nullptr && pool->size() > 1 && heads > 1 && len * d * heads >= 4096) {
    pool->parallel_for(static_cast<size_t>(heads), heads_body);
  } else {
    heads_body(0, static_cast<size_t>(heads), 0);
  }
  linear(L.o, L.o_bias, sc.att, n, sc.tmp, pool);
}

GENARM_INLINE void Transformer::mlp(const LayerWeights& L, const Scratch& sc, int64_t n, ThreadPool* pool) const {
  const auto& c = config();
  const int64_t in = c.intermediate_size;
  linear(L.up, L.up_bias, sc.xn, n, sc.a, pool);
  const io::Activation act = c.hidden_act;
  if (!L.gate.empty()) {
    linear(L.gate, L.gate_bias, sc.xn, n, sc.b, pool);
    for (int64_t i = 0; i < n * in; ++i) sc.a[i] *= activate(act, sc.b[i]);
  } else {
    for (int64_t i = 0; i < n * in; ++i) sc.a[i] = activate(act, sc.a[i]);
  }
  linear(L.down, L.down_bias, sc.a, n, sc.tmp, pool);
}

GENARM_INLINE float Transformer::activate(io::Activation act, float x) {
  switch (act) {
    case io::Activation::kSilu: return x / (1.0f + std::exp(-x));
    case io::Activation::kGeluTanh: {
      constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
      return 0.5f * x * (1.0f + std::tanh(kC * (x + 0.044715f * x * x * x)));
    }
    case io::Activation::kGeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
    case io::Activation::kRelu: return x > 0.0f ? x : 0.0f;
  }
  return x;
}

}  // namespace genarm::model
