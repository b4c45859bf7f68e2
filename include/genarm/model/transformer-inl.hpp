// Out-of-line definitions of transformer.hpp (see core/compiled.hpp): the forward pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "genarm/io/checkpoint.hpp"
#include "genarm/model/detail/matmul.hpp"
#include "genarm/model/transformer.hpp"

namespace genarm::model {

GENARM_INLINE Transformer Transformer::load(const std::filesystem::path& dir, const LoadOptions& options) {
  if (is_adapter_folder(dir)) {
    const auto base = adapter_base_folder(dir);
    if (!base) {
      const LoraConfig c = read_lora_config(dir);
      fail(ErrorCategory::kInvalidArgument, c.origin, ": a LoRA adapter whose base_model_name_or_path ",
           c.base_model_name_or_path.empty() ? std::string("is not set")
                                             : "'" + c.base_model_name_or_path + "' is not a local folder",
           ": name its base model (Transformer::load(adapter_dir, base_dir), or --arm-base DIR)");
    }
    return load(dir, *base, options);
  }
  const io::ModelConfig config = io::read_model_config(dir);
  const auto checkpoint = io::Checkpoint::open(dir);
  const auto config_path = (std::filesystem::is_directory(dir) ? dir / "config.json" : dir).string();
  Transformer t(load_transformer_weights(config, checkpoint, config_path, options));
  t.name_ = std::filesystem::path(dir).filename().string();
  if (t.name_.empty()) t.name_ = std::filesystem::path(dir).parent_path().filename().string();
  return t;
}

GENARM_INLINE Transformer Transformer::load(const std::filesystem::path& adapter_dir,
                                            const std::filesystem::path& base_dir, const LoadOptions& options) {
  return load_adapter(adapter_dir, load(base_dir, options));
}

GENARM_INLINE Transformer Transformer::load_adapter(const std::filesystem::path& adapter_dir, const Transformer& base) {
  if (base.adapter_) {
    fail(ErrorCategory::kInvalidArgument, adapter_dir.string(), ": the base ", base.name(),
         " already has an adapter applied (", base.adapter_->name(), "); give the base model itself");
  }
  return base.with_adapter(LoraAdapter::load(adapter_dir, base.config(), base.name()));
}

GENARM_INLINE Transformer Transformer::with_adapter(std::shared_ptr<const LoraAdapter> adapter) const {
  Transformer t(weights_);
  t.name_ = name_;
  if (adapter) {
    if (!adapter->fits(config())) {
      fail(ErrorCategory::kInvalidArgument, "LoRA adapter ", adapter->name(), " was read for a base of another shape than ",
           name_);
    }
    t.name_ = adapter->name();
  }
  t.adapter_ = std::move(adapter);
  return t;
}

GENARM_INLINE Transformer::Transformer(std::shared_ptr<const TransformerWeights> weights)
    : weights_(std::move(weights)) {}

GENARM_INLINE SequenceState Transformer::new_sequence(int64_t capacity) const {
  return SequenceState(config(), std::max<int64_t>(capacity, 1));
}

GENARM_INLINE std::span<const float> Transformer::forward(SequenceState& s, std::span<const int32_t> tokens) const {
  check_state(s);
  s.sibling_base_ = -1;
  if (tokens.empty()) return s.logits();
  const BatchItem item{&s, tokens, false, nullptr};
  forward_batch(std::span<const BatchItem>(&item, 1), s.workspace_, s.pool_);
  return s.logits();
}

GENARM_INLINE void Transformer::forward_all(SequenceState& s, std::span<const int32_t> tokens,
                                            RowMatrix& logits) const {
  if (is_reward_model()) {
    fail(ErrorCategory::kInvalidArgument, name_, ": a reward model has no next-token logits");
  }
  check_state(s);
  logits.resize(static_cast<Eigen::Index>(tokens.size()), vocab_size());
  if (tokens.empty()) return;
  const BatchItem item{&s, tokens, false, logits.data()};
  forward_batch(std::span<const BatchItem>(&item, 1), s.workspace_, s.pool_);
}

GENARM_INLINE void Transformer::check_state(const SequenceState& s) const {
  if (s.layers_ != config().num_hidden_layers || s.head_dim_ != config().head_dim ||
      s.kv_heads_ != config().num_key_value_heads) {
    fail(ErrorCategory::kInvalidArgument, name_, ": the sequence state belongs to another model");
  }
}

GENARM_INLINE void Transformer::check_item(const BatchItem& item) const {
  if (item.state == nullptr) fail(ErrorCategory::kInvalidArgument, name_, ": a batch item without a sequence");
  const SequenceState& s = *item.state;
  check_state(s);
  if (item.tokens.empty()) {
    fail(ErrorCategory::kInvalidArgument, name_, item.siblings ? ": forward_siblings without candidates"
                                                               : ": a batch item without tokens");
  }
  for (size_t i = 0; i < item.tokens.size(); ++i) {
    const int32_t t = item.tokens[i];
    if (t < 0 || t >= vocab_size()) {
      if (item.siblings) {
        fail(ErrorCategory::kInvalidArgument, name_, ": candidate token id ", t, " is outside the vocabulary of ",
             vocab_size(), " ids");
      }
      fail(ErrorCategory::kInvalidArgument, name_, ": token id ", t, " (position ",
           s.length() + static_cast<int64_t>(i), ") is outside the vocabulary of ", vocab_size(), " ids");
    }
  }
  const int64_t total = s.length() + (item.siblings ? 1 : static_cast<int64_t>(item.tokens.size()));
  if (total > s.max_length_) {
    fail(ErrorCategory::kInvalidArgument, name_, ": a sequence of ", total, " tokens exceeds the model's context of ",
         s.max_length_, " positions (max_position_embeddings in config.json)");
  }
  if (item.all_logits != nullptr && (is_reward_model() || item.siblings)) {
    fail(ErrorCategory::kInvalidArgument, name_, ": all-position logits are for causal LM sequences");
  }
  if (item.adapter != nullptr && !item.adapter->fits(config())) {
    fail(ErrorCategory::kInvalidArgument, name_, ": LoRA adapter ", item.adapter->name(),
         " was read for a base of another shape");
  }
}

GENARM_INLINE void Transformer::forward_batch(std::span<const BatchItem> items, ForwardWorkspace& ws,
                                              ThreadPool* pool) const {
  if (items.empty()) return;
  for (size_t i = 0; i < items.size(); ++i) {
    check_item(items[i]);
    for (size_t j = 0; j < i; ++j) {
      if (items[j].state == items[i].state) {
        fail(ErrorCategory::kInvalidArgument, name_, ": batch items ", j, " and ", i, " are the same sequence");
      }
    }
  }
  ws.offsets_.resize(items.size() + 1);
  ws.lengths_.resize(items.size());
  ws.offsets_[0] = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    SequenceState& s = *items[i].state;
    const int64_t n = static_cast<int64_t>(items[i].tokens.size());
    ws.lengths_[i] = s.length();
    ws.offsets_[i + 1] = ws.offsets_[i] + n;
    if (items[i].siblings) {
      // The candidates' keys and values go right after the sequence: room beyond the context limit
      // of the sequence itself is fine (they are never positions of it).
      const int64_t need = s.length() + n;
      if (need > s.capacity_) s.grow(std::max(need, std::min(s.max_length_, 2 * s.capacity_)));
      s.sibling_tokens_.assign(items[i].tokens.begin(), items[i].tokens.end());
      s.sibling_scores_.resize(is_reward_model() ? static_cast<size_t>(n) : 0);
      s.sibling_logits_.resize(is_reward_model() ? 0 : static_cast<size_t>(n * vocab_size()));
      s.sibling_base_ = s.length();
    } else {
      s.reserve(s.length() + n);
      s.sibling_base_ = -1;
    }
  }
  const int64_t total = ws.offsets_.back();
  for (int64_t begin = 0; begin < total; begin += kPassRows) {
    run_pass(items, ws.offsets_, begin, std::min(total, begin + kPassRows), ws, pool);
  }
  for (const BatchItem& item : items) {
    if (!item.siblings) item.state->tokens_.insert(item.state->tokens_.end(), item.tokens.begin(), item.tokens.end());
  }
}

GENARM_INLINE Transformer::Buffers Transformer::buffers(ForwardWorkspace& ws, int64_t rows, int64_t max_keys,
                                                        size_t workers) const {
  const auto& c = config();
  const int64_t h = c.hidden_size, qd = c.q_dim(), kv = c.kv_dim(), in = c.intermediate_size;
  const int64_t head_rows = is_reward_model() ? 0 : std::min(rows, kHeadRows);
  const int64_t score_stride = max_keys + 8;
  // Adapted rows: (rows, max rank) for the low-rank terms' A x.
  int64_t lora_rank = 0;
  for (const auto& run : ws.lora_runs_) lora_rank = std::max(lora_rank, run.adapter->max_rank());
  const size_t need = static_cast<size_t>(rows * (4 * h + 2 * qd + 2 * kv + 2 * in + lora_rank) +
                                          head_rows * vocab_size() + static_cast<int64_t>(workers) * score_stride +
                                          2 * c.head_dim);
  if (ws.floats_.size() < need) ws.floats_.resize(need);
  float* p = ws.floats_.data();
  auto take = [&](int64_t n) {
    float* r = p;
    p += n;
    return r;
  };
  Buffers b{};
  b.x = take(rows * h);
  b.xn = take(rows * h);
  b.tmp = take(rows * h);
  b.hidden = take(rows * h);
  b.q = take(rows * qd);
  b.att = take(rows * qd);
  b.k = take(rows * kv);
  b.v = take(rows * kv);
  b.a = take(rows * in);
  b.b = take(rows * in);
  b.logits = take(head_rows * vocab_size());
  b.scores = take(static_cast<int64_t>(workers) * score_stride);
  b.score_stride = score_stride;
  b.lora_u = take(rows * lora_rank);
  b.runs = ws.lora_runs_.data();
  b.run_count = ws.lora_runs_.size();
  return b;
}

GENARM_INLINE void Transformer::run_pass(std::span<const BatchItem> items, std::span<const int64_t> offsets,
                                         int64_t row_begin, int64_t row_end, ForwardWorkspace& ws,
                                         ThreadPool* pool) const {
  const auto& c = config();
  const auto& w = *weights_;
  const int64_t h = c.hidden_size;
  const int64_t n = row_end - row_begin;

  // The rows of this pass, in item order.
  ws.rows_.resize(static_cast<size_t>(n));
  size_t item = static_cast<size_t>(std::upper_bound(offsets.begin(), offsets.end(), row_begin) - offsets.begin() - 1);
  int64_t max_keys = 1;
  for (int64_t r = row_begin; r < row_end; ++r) {
    while (r >= offsets[item + 1]) ++item;
    const BatchItem& it = items[item];
    const int64_t j = r - offsets[item];
    const int64_t base = ws.lengths_[item];
    ForwardWorkspace::Row& row = ws.rows_[static_cast<size_t>(r - row_begin)];
    row.item = static_cast<int32_t>(item);
    row.token = it.tokens[static_cast<size_t>(j)];
    row.pos = it.siblings ? base : base + j;
    row.slot = base + j;
    row.sibling = it.siblings;
    max_keys = std::max(max_keys, row.pos + 1);
  }
  // Runs of consecutive rows sharing an adapter (rows of one item are consecutive).
  ws.lora_runs_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const LoraAdapter* adapter = adapter_of(items[static_cast<size_t>(ws.rows_[static_cast<size_t>(t)].item)]);
    if (adapter == nullptr) continue;
    if (!ws.lora_runs_.empty() && ws.lora_runs_.back().adapter == adapter && ws.lora_runs_.back().end == t) {
      ws.lora_runs_.back().end = t + 1;
    } else {
      ws.lora_runs_.push_back({t, t + 1, adapter});
    }
  }
  const size_t workers = pool ? pool->size() : 1;
  const Buffers buf = buffers(ws, n, max_keys, workers);
  const ForwardWorkspace::Row* rows = ws.rows_.data();

  // Embeddings (+ learned positions).
  for (int64_t t = 0; t < n; ++t) {
    float* x = buf.x + t * h;
    w.embed.row(rows[t].token, x);
    if (!w.position_embed.empty()) {
      float* pos = buf.tmp + t * h;
      w.position_embed.row(rows[t].pos, pos);
      for (int64_t i = 0; i < h; ++i) x[i] += pos[i];
    }
  }

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    normalize(L.attn_norm, buf.x, buf.xn, n);
    attention(items, rows, n, L, l, buf, pool);
    for (int64_t i = 0; i < n * h; ++i) buf.x[i] += buf.tmp[i];
    normalize(L.mlp_norm, buf.x, buf.xn, n);
    mlp(L, l, buf, n, pool);
    for (int64_t i = 0; i < n * h; ++i) buf.x[i] += buf.tmp[i];
  }

  if (is_reward_model()) {
    // The score head on every row; reward() pools the last non-pad one.
    for (int64_t t = 0; t < n; ++t) {
      SequenceState& s = *items[static_cast<size_t>(rows[t].item)].state;
      const float score = score_row(buf.x + t * h, buf.xn);
      if (rows[t].sibling) {
        s.sibling_scores_[static_cast<size_t>(rows[t].slot - s.sibling_base_)] = score;
      } else {
        s.scores_.push_back(score);
      }
    }
    return;
  }

  // Rows that need logits: each sequence's last row, every row of all-position items and siblings.
  ws.gathered_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const size_t it = static_cast<size_t>(rows[t].item);
    const bool last = row_begin + t == offsets[it + 1] - 1;
    if (rows[t].sibling || last || items[it].all_logits != nullptr) ws.gathered_.push_back(static_cast<int32_t>(t));
  }
  const int64_t gathered = static_cast<int64_t>(ws.gathered_.size());
  for (int64_t g = 0; g < gathered; ++g) {
    normalize(w.final_norm, buf.x + ws.gathered_[static_cast<size_t>(g)] * h, buf.hidden + g * h, 1);
  }
  const int64_t V = vocab_size();
  for (int64_t g0 = 0; g0 < gathered; g0 += kHeadRows) {
    const int64_t m = std::min(kHeadRows, gathered - g0);
    w.lm_head.matmul(buf.hidden + g0 * h, m, h, buf.logits, V, pool);
    for (int64_t g = 0; g < m; ++g) {
      const int64_t t = ws.gathered_[static_cast<size_t>(g0 + g)];
      const size_t it = static_cast<size_t>(rows[t].item);
      const BatchItem& bi = items[it];
      SequenceState& s = *bi.state;
      const float* src = buf.logits + g * V;
      const int64_t j = row_begin + t - offsets[it];
      if (rows[t].sibling) {
        std::copy_n(src, V, s.sibling_logits_.data() + j * V);
        continue;
      }
      if (bi.all_logits != nullptr) std::copy_n(src, V, bi.all_logits + j * V);
      if (row_begin + t == offsets[it + 1] - 1) std::copy_n(src, V, s.logits_.data());
    }
  }
}

GENARM_INLINE void Transformer::forward_siblings(SequenceState& s, std::span<const int32_t> candidates,
                                                 std::span<float> rewards, RowMatrix* logits) const {
  check_state(s);
  if (candidates.empty()) fail(ErrorCategory::kInvalidArgument, name_, ": forward_siblings without candidates");
  if (is_reward_model() && rewards.size() != candidates.size()) {
    fail(ErrorCategory::kInvalidArgument, name_, ": ", rewards.size(), " reward slots for ", candidates.size(),
         " candidates");
  }
  const BatchItem item{&s, candidates, true, nullptr};
  forward_batch(std::span<const BatchItem>(&item, 1), s.workspace_, s.pool_);
  if (is_reward_model()) {
    sibling_rewards(s, rewards);
  } else if (logits != nullptr) {
    *logits = Eigen::Map<const RowMatrix>(s.sibling_logits_.data(), static_cast<Eigen::Index>(candidates.size()),
                                         vocab_size());
  }
}

GENARM_INLINE void Transformer::sibling_rewards(const SequenceState& s, std::span<float> rewards) const {
  if (!is_reward_model() || s.sibling_base_ != s.length() || rewards.size() != s.sibling_tokens_.size()) {
    fail(ErrorCategory::kInvalidArgument, name_, ": sibling_rewards without a matching sibling pass of a reward model");
  }
  const auto& pad = config().pad_token_id;
  for (size_t j = 0; j < rewards.size(); ++j) {
    // A pad candidate is pooled away: the reward stays the prefix's (transformers' pooling).
    rewards[j] = (pad && s.sibling_tokens_[j] == *pad && s.length() > 0) ? reward(s) : s.sibling_scores_[j];
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

GENARM_INLINE float Transformer::score_row(const float* hidden_row, float* scratch) const {
  const int64_t h = config().hidden_size;
  normalize(weights_->final_norm, hidden_row, scratch, 1);
  double sum = 0.0;
  for (int64_t i = 0; i < h; ++i) sum += static_cast<double>(weights_->score[static_cast<size_t>(i)]) * scratch[i];
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

GENARM_INLINE void Transformer::add_bias(float* y, const std::vector<float>& bias, int64_t n, int64_t dim) {
  if (bias.empty()) return;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += bias[static_cast<size_t>(i)];
  }
}

GENARM_INLINE void Transformer::linear(const WeightMatrix& m, const std::vector<float>& bias, const float* x,
                                       int64_t n, float* y, ThreadPool* pool) {
  m.matmul(x, n, m.cols(), y, m.rows(), pool);
  add_bias(y, bias, n, m.rows());
}

GENARM_INLINE void Transformer::add_lora(int64_t layer, LoraTarget target, const float* x, int64_t in, float* y,
                                         int64_t out, const Buffers& buf, ThreadPool* pool) const {
  for (size_t i = 0; i < buf.run_count; ++i) {
    const ForwardWorkspace::LoraRun& run = buf.runs[i];
    const LoraFactors& f = run.adapter->factors(layer, target);
    if (f.empty()) continue;
    const int64_t m = run.end - run.begin, r = f.rank();
    GENARM_DASSERT(f.a.cols() == in && f.b.rows() == out);
    f.a.matmul(x + run.begin * in, m, in, buf.lora_u, r, pool);  // u = A x: (m, r)
    const float* bt = f.b_t->data();                               // (r, out)
    for (int64_t t = 0; t < m; ++t) {
      // y += s u_k B[:, k], k in order: the row's result depends on the row only.
      float* dst = y + (run.begin + t) * out;
      for (int64_t k = 0; k < r; ++k) detail::axpy(f.scale * buf.lora_u[t * r + k], bt + k * out, dst, out);
    }
  }
}

GENARM_INLINE void Transformer::apply_rope(float* row, int64_t heads, int64_t pos) const {
  const auto& inv = weights_->rope_inv_freq;
  const int64_t d = config().head_dim, half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(pos) * inv[static_cast<size_t>(i)];
    const float cs = std::cos(angle), sn = std::sin(angle);
    for (int64_t hd = 0; hd < heads; ++hd) {
      float* v = row + hd * d;
      const float a = v[i], b = v[i + half];
      v[i] = a * cs - b * sn;
      v[i + half] = b * cs + a * sn;
    }
  }
}

GENARM_INLINE void Transformer::attention(std::span<const BatchItem> items, const ForwardWorkspace::Row* rows,
                                          int64_t n, const LayerWeights& L, int64_t layer, const Buffers& buf,
                                          ThreadPool* pool) const {
  const auto& c = config();
  const int64_t d = c.head_dim, qd = c.q_dim(), kv = c.kv_dim();
  const int64_t heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const int64_t h = c.hidden_size;
  linear(L.q, L.q_bias, buf.xn, n, buf.q, pool);
  linear(L.k, L.k_bias, buf.xn, n, buf.k, pool);
  linear(L.v, L.v_bias, buf.xn, n, buf.v, pool);
  if (buf.run_count > 0) {
    add_lora(layer, LoraTarget::kQ, buf.xn, h, buf.q, qd, buf, pool);
    add_lora(layer, LoraTarget::kK, buf.xn, h, buf.k, kv, buf, pool);
    add_lora(layer, LoraTarget::kV, buf.xn, h, buf.v, kv, buf, pool);
  }
  const bool rotary = weights_->spec->positions == PositionKind::kRotary;
  for (int64_t t = 0; t < n; ++t) {
    if (rotary) {
      apply_rope(buf.q + t * qd, heads, rows[t].pos);
      apply_rope(buf.k + t * kv, kv_heads, rows[t].pos);
    }
    SequenceState& s = *items[static_cast<size_t>(rows[t].item)].state;
    for (int64_t g = 0; g < kv_heads; ++g) {
      std::copy_n(buf.k + t * kv + g * d, d, s.k_cache(layer, g) + rows[t].slot * d);
      std::copy_n(buf.v + t * kv + g * d, d, s.v_cache(layer, g) + rows[t].slot * d);
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

  // One task per (row, head): its scores over the visible keys, softmax, weighted sum of values —
  // each in the order of the keys, so the result depends on the row's sequence only.
  auto body = [&](size_t begin, size_t end, size_t worker) {
    float* scores = buf.scores + static_cast<int64_t>(worker) * buf.score_stride;
    for (size_t task = begin; task < end; ++task) {
      const int64_t t = static_cast<int64_t>(task) / heads;
      const int64_t head = static_cast<int64_t>(task) % heads;
      const ForwardWorkspace::Row& row = rows[t];
      SequenceState& s = *items[static_cast<size_t>(row.item)].state;
      const float* keys = s.k_cache(layer, head / group);
      const float* values = s.v_cache(layer, head / group);
      const float* q = buf.q + t * qd + head * d;
      // Visible keys: [lo, hi] of the sequence, plus its own slot for a sibling.
      const int64_t lo = window > 0 ? std::max<int64_t>(0, row.pos - window + 1) : 0;
      const int64_t hi = row.sibling ? row.pos - 1 : row.pos;
      const int64_t visible = std::max<int64_t>(0, hi - lo + 1);  // the keys lo..hi, then the sibling's
      detail::dot_rows(q, keys + lo * d, d, visible, scores);
      int64_t count = visible;
      if (row.sibling) scores[count++] = detail::dot(q, keys + row.slot * d, d);
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < count; ++j) {
        scores[j] *= scale;
        mx = std::max(mx, scores[j]);
      }
      detail::exp_shifted(scores, count, mx);
      float sum = 0.0f;
      for (int64_t j = 0; j < count; ++j) sum += scores[j];
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < count; ++j) scores[j] *= inv;
      float* out = buf.att + t * qd + head * d;
      std::fill_n(out, d, 0.0f);
      detail::axpy_rows(scores, values + lo * d, d, visible, out);
      if (row.sibling) detail::axpy(scores[count - 1], values + row.slot * d, out, d);
    }
  };
  const size_t tasks = static_cast<size_t>(n * heads);
  int64_t work = 0;
  for (int64_t t = 0; t < n; ++t) work += rows[t].pos + 1;
  if (pool != nullptr && pool->size() > 1 && tasks > 1 && work * d * heads >= 4096) {
    pool->parallel_for(tasks, body);
  } else {
    body(0, tasks, 0);
  }
  linear(L.o, L.o_bias, buf.att, n, buf.tmp, pool);
  if (buf.run_count > 0) add_lora(layer, LoraTarget::kO, buf.att, qd, buf.tmp, c.hidden_size, buf, pool);
}

GENARM_INLINE void Transformer::mlp(const LayerWeights& L, int64_t layer, const Buffers& buf, int64_t n,
                                    ThreadPool* pool) const {
  const auto& c = config();
  const int64_t in = c.intermediate_size, h = c.hidden_size;
  const bool lora = buf.run_count > 0;
  linear(L.up, L.up_bias, buf.xn, n, buf.a, pool);
  if (lora) add_lora(layer, LoraTarget::kUp, buf.xn, h, buf.a, in, buf, pool);
  const io::Activation act = c.hidden_act;
  const bool gated = !L.gate.empty();
  if (gated) {
    linear(L.gate, L.gate_bias, buf.xn, n, buf.b, pool);
    if (lora) add_lora(layer, LoraTarget::kGate, buf.xn, h, buf.b, in, buf, pool);
  }
  // a = act(gate) * up, or act(a): elementwise, split over the pool for prefill-sized buffers.
  const auto apply = [&](size_t begin, size_t end) {
    float* a = buf.a + begin;
    const int64_t m = static_cast<int64_t>(end - begin);
    if (act == io::Activation::kSilu) {
      if (gated) {
        float* g = buf.b + begin;
        detail::silu(g, g, m);
        for (int64_t i = 0; i < m; ++i) a[i] *= g[i];
      } else {
        detail::silu(a, a, m);
      }
      return;
    }
    for (int64_t i = 0; i < m; ++i) a[i] = gated ? a[i] * activate(act, buf.b[begin + i]) : activate(act, a[i]);
  };
  const auto total = static_cast<size_t>(n * in);
  if (pool != nullptr && pool->size() > 1 && total >= kParallelElements) {
    pool->parallel_for(total, apply, kParallelElements / 4);
  } else {
    apply(0, total);
  }
  linear(L.down, L.down_bias, buf.a, n, buf.tmp, pool);
  if (lora) add_lora(layer, LoraTarget::kDown, buf.a, in, buf.tmp, h, buf, pool);
}

GENARM_INLINE float Transformer::activate(io::Activation act, float x) {
  switch (act) {
    case io::Activation::kSilu: {  // the MLP's vectorised kernel, for the same bits
      float y;
      detail::silu(&x, &y, 1);
      return y;
    }
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
