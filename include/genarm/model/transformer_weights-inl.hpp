// Out-of-line definitions of transformer_weights.hpp (see core/compiled.hpp): the checkpoint
// reader with its shape checks, and the rotary table.
#pragma once

#include <cmath>
#include <cstring>
#include <numbers>
#include <set>

#include "genarm/io/checkpoint.hpp"
#include "genarm/model/transformer_weights.hpp"

namespace genarm::model {

GENARM_INLINE std::vector<float> rope_inverse_frequencies(const io::ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // transformers evaluates base ** (2i / dim) in float32; do the same before inverting.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope.theta), exponent);
    double f = freq;
    if (c.rope.type == "linear") {
      f /= c.rope.factor;
    } else if (c.rope.type == "llama3") {
      const double old_len = static_cast<double>(c.rope.original_max_position_embeddings);
      const double low_wavelen = old_len / c.rope.low_freq_factor;
      const double high_wavelen = old_len / c.rope.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= c.rope.factor;  // long wavelengths: fully interpolated
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - c.rope.low_freq_factor) /
                              (c.rope.high_freq_factor - c.rope.low_freq_factor);
        f = (1.0 - smooth) * f / c.rope.factor + smooth * f;  // medium: blended
      }
    }
    inv[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return inv;
}

namespace detail {

// Reads tensors of a checkpoint with shape checks and remembers which ones were used.
class WeightReader {
 public:
  WeightReader(const io::Checkpoint& ckpt, std::string config_origin)
      : ckpt_(ckpt), config_origin_(std::move(config_origin)) {
    auto mappings = ckpt.mappings();
    keepalive_ = std::make_shared<std::vector<std::shared_ptr<const io::MappedFile>>>(std::move(mappings));
  }

  bool has(const std::string& name) const { return ckpt_.find(name) != nullptr; }

  // A matrix stored [rows, cols] (nn.Linear [out, in]).
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols, const std::string& why) {
    const io::TensorView& t = tensor(name, {rows, cols}, why);
    const size_t element = dtype_size(t.dtype);
    if (reinterpret_cast<uintptr_t>(t.bytes.data()) % element != 0) {
      // Misaligned inside the file: copy rather than read unaligned floats.
      LargePageBuffer copy(t.bytes.size());
      std::memcpy(copy.data(), t.bytes.data(), t.bytes.size());
      return WeightMatrix::owned(t.dtype, rows, cols, std::move(copy));
    }
    return WeightMatrix::view(t.dtype, rows, cols, t.bytes.data(), keepalive_);
  }

  // Rows [row0, row0 + rows) of the transpose of a matrix stored [in, out_total] (GPT-2 Conv1D):
  // returns an owned [rows, in] matrix in the stored dtype.
  WeightMatrix conv1d_matrix(const std::string& name, int64_t in, int64_t out_total, int64_t row0,
                             int64_t rows, const std::string& why) {
    const io::TensorView& t = tensor(name, {in, out_total}, why);
    const size_t element = dtype_size(t.dtype);
    LargePageBuffer out(static_cast<size_t>(rows * in) * element);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < in; ++c) {
        std::memcpy(out.data() + static_cast<size_t>(r * in + c) * element,
                    t.bytes.data() + static_cast<size_t>(c * out_total + row0 + r) * element, element);
      }
    }
    return WeightMatrix::owned(t.dtype, rows, in, std::move(out));
  }

  // A vector (or a slice of one) widened to float32.
  std::vector<float> vector(const std::string& name, int64_t size, const std::string& why,
                            int64_t offset = 0, int64_t count = -1) {
    return vector(name, std::vector<int64_t>{size}, why, offset, count);
  }
  std::vector<float> vector(const std::string& name, const std::vector<int64_t>& shape,
                            const std::string& why, int64_t offset = 0, int64_t count = -1) {
    const io::TensorView& t = tensor(name, shape, why);
    if (count < 0) count = t.numel() - offset;
    std::vector<float> out(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const std::byte* p = t.bytes.data() + static_cast<size_t>(offset + i) * dtype_size(t.dtype);
      if (t.dtype == DType::kF32) {
        std::memcpy(&out[static_cast<size_t>(i)], p, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, p, 2);
        out[static_cast<size_t>(i)] = t.dtype == DType::kBF16 ? bf16_to_float(h) : f16_to_float(h);
      }
    }
    return out;
  }

  // Fails on tensors nobody asked for: the checkpoint does not match its config.
  void check_all_used() const {
    std::vector<std::string> unused;
    for (const auto& name : ckpt_.names()) {
      if (!used_.count(name) && !is_ignorable_tensor(name)) unused.push_back(name);
    }
    if (unused.empty()) return;
    std::string list;
    for (size_t i = 0; i < unused.size() && i < 5; ++i) list += (i ? ", '" : "'") + unused[i] + "'";
    if (unused.size() > 5) list += ", ... (" + std::to_string(unused.size()) + " in all)";
    fail(ErrorCategory::kFormat, ckpt_.origin(), ": unexpected tensors not used by the ",
         "architecture in ", config_origin_, ": ", list);
  }

  size_t bytes_read = 0;

 private:
  const io::TensorView& tensor(const std::string& name, const std::vector<int64_t>& shape,
                               const std::string& why) {
    const io::TensorView* t = ckpt_.find(name);
    if (t == nullptr) {
      fail(ErrorCategory::kFormat, ckpt_.origin(), ": missing tensor '", name, "' (", why, ")");
    }
    if (!is_weight_dtype(t->dtype)) {
      fail(ErrorCategory::kUnsupported, t->origin, ": tensor '", name, "' has dtype ",
           dtype_name(t->dtype), "; weights must be F32, F16 or BF16");
    }
    if (t->shape != shape) {
      io::TensorView expected;
      expected.shape = shape;
      fail(ErrorCategory::kFormat, t->origin, ": tensor '", name, "' has shape ", t->shape_string(),
           " but ", config_origin_, " implies ", expected.shape_string(), " (", why, ")");
    }
    used_.insert(name);
    return *t;
  }

  const io::Checkpoint& ckpt_;
  std::string config_origin_;
  std::shared_ptr<std::vector<std::shared_ptr<const io::MappedFile>>> keepalive_;
  std::set<std::string> used_;
};

inline NormWeights read_norm(WeightReader& r, const ArchitectureSpec& spec, const std::string& prefix,
                             int64_t hidden) {
  NormWeights n;
  n.weight = r.vector(prefix + ".weight", hidden, "hidden_size");
  if (spec.norm == NormKind::kLayer) n.bias = r.vector(prefix + ".bias", hidden, "hidden_size");
  return n;
}

inline std::vector<float> read_bias(WeightReader& r, const std::string& prefix, int64_t size,
                                    bool expected, const std::string& why) {
  if (!expected) return {};
  return r.vector(prefix + ".bias", size, why);
}

}  // namespace detail

GENARM_INLINE void convert_weights(TransformerWeights& w, const LoadOptions& options) {
  std::vector<WeightMatrix*> projections;
  for (auto& L : w.layers) {
    for (WeightMatrix* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) {
      if (!m->empty()) projections.push_back(m);
    }
  }
  const bool tied = w.lm_head.data_ptr() == w.embed.data_ptr();
  std::vector<WeightMatrix*> all = projections;
  if (!w.lm_head.empty()) all.push_back(&w.lm_head);
  std::optional<WeightType> target = options.weights;
  if (!target) {
    // Auto: widen the 16-bit matrices of a cache-sized model (exact; compute-bound there).
    size_t f32_bytes = 0;
    bool sixteen = false;
    for (const WeightMatrix* m : all) {
      f32_bytes += static_cast<size_t>(m->rows() * m->cols()) * 4;
      sixteen |= m->type() == WeightType::kF16 || m->type() == WeightType::kBF16;
    }
    if (!sixteen || f32_bytes > (size_t{64} << 20)) return;
    target = WeightType::kF32;
  }
  const WeightType head = is_quantized(*target) ? WeightType::kQ8_0 : *target;
  size_t total = 0, done = 0;
  for (const WeightMatrix* m : all) total += m->bytes();
  const auto convert = [&](WeightMatrix& m, WeightType type) {
    done += m.bytes();
    m = m.converted(type, options.pool);
    if (options.progress) options.progress(done, total);
  };
  for (WeightMatrix* m : projections) convert(*m, *target);
  if (!w.lm_head.empty()) {
    convert(w.lm_head, head);
    // A tied head was the embedding: the table itself stays as stored unless floats were asked for.
    if (tied && !is_quantized(*target)) w.embed = w.lm_head;
  }
  if (!tied && !is_quantized(*target)) w.embed = w.embed.converted(*target, options.pool);
  w.weight_bytes = 0;
  for (const WeightMatrix* m : all) w.weight_bytes += m->bytes();
}

GENARM_INLINE std::shared_ptr<const TransformerWeights> load_transformer_weights(
    const io::ModelConfig& config, const io::Checkpoint& checkpoint, const std::string& config_origin,
    const LoadOptions& options) {
  auto w = std::make_shared<TransformerWeights>();
  w->config = config;
  const ArchitectureSpec& spec = spec_for(config);
  w->spec = &spec;
  detail::WeightReader r(checkpoint, config_origin);

  const int64_t hidden = config.hidden_size;
  const int64_t inter = config.intermediate_size;
  const int64_t q_dim = config.q_dim();
  const int64_t kv_dim = config.kv_dim();
  const std::string base(spec.base_prefix);
  // Some GPT-2 checkpoints (the original upload) have no "transformer." prefix.
  std::string body = base;
  if (!r.has(body + std::string(spec.embed) + ".weight") && r.has(std::string(spec.embed) + ".weight")) {
    body.clear();
  }
  const std::string hidden_why = "vocab_size x hidden_size";

  w->embed = r.matrix(body + std::string(spec.embed) + ".weight", config.vocab_size, hidden, hidden_why);
  if (spec.positions == PositionKind::kLearned) {
    w->position_embed = r.matrix(body + std::string(spec.position_embed) + ".weight",
                                 config.max_position_embeddings, hidden, "n_positions x hidden_size");
  } else {
    w->rope_inv_freq = rope_inverse_frequencies(config);
  }

  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = body + std::string(spec.layers) + "." + std::to_string(i) + ".";
    LayerWeights L;
    L.attn_norm = detail::read_norm(r, spec, p + std::string(spec.attn_norm), hidden);
    L.mlp_norm = detail::read_norm(r, spec, p + std::string(spec.mlp_norm), hidden);
    if (spec.conv1d) {
      const std::string qkv = p + std::string(spec.qkv);
      const int64_t total = q_dim + 2 * kv_dim;
      const std::string why = "hidden_size x 3 * hidden_size";
      L.q = r.conv1d_matrix(qkv + ".weight", hidden, total, 0, q_dim, why);
      L.k = r.conv1d_matrix(qkv + ".weight", hidden, total, q_dim, kv_dim, why);
      L.v = r.conv1d_matrix(qkv + ".weight", hidden, total, q_dim + kv_dim, kv_dim, why);
      L.q_bias = r.vector(qkv + ".bias", total, "3 * hidden_size", 0, q_dim);
      L.k_bias = r.vector(qkv + ".bias", total, "3 * hidden_size", q_dim, kv_dim);
      L.v_bias = r.vector(qkv + ".bias", total, "3 * hidden_size", q_dim + kv_dim, kv_dim);
      const std::string o = p + std::string(spec.o);
      L.o = r.conv1d_matrix(o + ".weight", q_dim, hidden, 0, hidden, "hidden_size x hidden_size");
      L.o_bias = r.vector(o + ".bias", hidden, "hidden_size");
      const std::string up = p + std::string(spec.up);
      const std::string down = p + std::string(spec.down);
      L.up = r.conv1d_matrix(up + ".weight", hidden, inter, 0, inter, "hidden_size x n_inner");
      L.up_bias = r.vector(up + ".bias", inter, "n_inner");
      L.down = r.conv1d_matrix(down + ".weight", inter, hidden, 0, hidden, "n_inner x hidden_size");
      L.down_bias = r.vector(down + ".bias", hidden, "hidden_size");
    } else {
      const std::string q = p + std::string(spec.q), k = p + std::string(spec.k),
                        v = p + std::string(spec.v), o = p + std::string(spec.o);
      L.q = r.matrix(q + ".weight", q_dim, hidden, "num_attention_heads * head_dim x hidden_size");
      L.k = r.matrix(k + ".weight", kv_dim, hidden, "num_key_value_heads * head_dim x hidden_size");
      L.v = r.matrix(v + ".weight", kv_dim, hidden, "num_key_value_heads * head_dim x hidden_size");
      L.o = r.matrix(o + ".weight", hidden, q_dim, "hidden_size x num_attention_heads * head_dim");
      L.q_bias = detail::read_bias(r, q, q_dim, config.qkv_bias, "attention bias");
      L.k_bias = detail::read_bias(r, k, kv_dim, config.qkv_bias, "attention bias");
      L.v_bias = detail::read_bias(r, v, kv_dim, config.qkv_bias, "attention bias");
      L.o_bias = detail::read_bias(r, o, hidden, config.o_bias, "attention bias");
      const std::string up = p + std::string(spec.up), down = p + std::string(spec.down);
      if (spec.mlp == MlpKind::kGated) {
        const std::string gate = p + std::string(spec.gate);
        L.gate = r.matrix(gate + ".weight", inter, hidden, "intermediate_size x hidden_size");
        L.gate_bias = detail::read_bias(r, gate, inter, config.mlp_bias, "mlp_bias");
      }
      L.up = r.matrix(up + ".weight", inter, hidden, "intermediate_size x hidden_size");
      L.up_bias = detail::read_bias(r, up, inter, config.mlp_bias, "mlp_bias");
      L.down = r.matrix(down + ".weight", hidden, inter, "hidden_size x intermediate_size");
      L.down_bias = detail::read_bias(r, down, hidden, config.mlp_bias, "mlp_bias");
    }
    w->weight_bytes += L.q.bytes() + L.k.bytes() + L.v.bytes() + L.o.bytes() + L.gate.bytes() +
                       L.up.bytes() + L.down.bytes();
    w->layers.push_back(std::move(L));
  }
  w->final_norm = detail::read_norm(r, spec, body + std::string(spec.final_norm), hidden);

  if (config.head == io::ModelHead::kSequenceClassification) {
    w->score = r.vector(std::string(spec.score) + ".weight", std::vector<int64_t>{1, hidden},
                        "num_labels x hidden_size");
  } else {
    const std::string head = std::string(spec.lm_head) + ".weight";
    if (config.tie_word_embeddings) {
      w->lm_head = w->embed;
      if (r.has(head)) {
        // Some exports store the tied head anyway; it must be the embedding's copy.
        (void)r.matrix(head, config.vocab_size, hidden, "vocab_size x hidden_size (tied)");
      }
    } else {
      w->lm_head = r.matrix(head, config.vocab_size, hidden, "vocab_size x hidden_size");
    }
    w->weight_bytes += w->lm_head.bytes();
  }
  r.check_all_used();
  convert_weights(*w, options);
  return w;
}

}  // namespace genarm::model
