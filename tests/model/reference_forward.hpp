// A naive reference forward pass in double precision, written from Hugging Face transformers'
// modeling code (models/llama, mistral, qwen2, gpt2 and modeling_rope_utils.py, transformers 5.x),
// to check genarm's optimised Transformer on configurations no fixture covers.
//
// It shares nothing with genarm's model layer: it reads config.json with its own rules (HF's
// defaults), reads model.safetensors with its own few-line parser, and recomputes every position
// from scratch with plain loops (no KV cache, no chunking, no threads). The only float32 steps are
// the ones HF itself takes in float32 whatever the model dtype: the rotary inverse frequencies are a
// float32 buffer and `position * inv_freq` is a float32 product (modeling_llama's
// LlamaRotaryEmbedding.forward "Force float32"); reproducing them keeps the comparison at 1e-5 for
// positions in the hundreds.
// Thread-safety: immutable after load.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace genarm::testing {

class ReferenceModel {
 public:
  static ReferenceModel load(const std::filesystem::path& dir) {
    ReferenceModel m;
    m.read_config(read_json(dir / "config.json"));
    m.read_tensors(dir / "model.safetensors");
    return m;
  }

  bool is_classifier() const { return classifier_; }
  int64_t vocab_size() const { return vocab_; }
  // The rotary inverse frequencies (float32, as HF's inv_freq buffer); empty for GPT-2.
  const std::vector<float>& inv_freq() const { return inv_freq_; }

  // Next-token logits after every position of `ids` (causal LMs): one row per token.
  std::vector<std::vector<double>> logits(const std::vector<int32_t>& ids) const {
    const auto hidden = final_hidden(ids);
    const Tensor& head = tensor(tied_ ? embed_name() : std::string("lm_head.weight"));
    std::vector<std::vector<double>> out;
    for (const auto& h : hidden) out.push_back(linear(head, nullptr, h));
    return out;
  }

  // The *ForSequenceClassification score (num_labels = 1) of the whole sequence: the score head on
  // the rightmost token that is not pad_token_id — `(arange * (ids != pad)).argmax()`, so 0 when
  // every token is padding — or on the last token when the config has no pad_token_id.
  double reward(const std::vector<int32_t>& ids) const {
    const auto hidden = final_hidden(ids);
    size_t pooled = ids.size() - 1;
    if (pad_) {
      pooled = 0;
      for (size_t t = 0; t < ids.size(); ++t) {
        if (ids[t] != *pad_) pooled = t;
      }
    }
    return linear(tensor("score.weight"), nullptr, hidden[pooled])[0];
  }

 private:
  struct Tensor {
    std::vector<int64_t> shape;
    std::vector<double> values;
  };
  using Vec = std::vector<double>;

  static nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("reference: cannot open " + path.string());
    return nlohmann::json::parse(in);
  }

  // --- config.json, with the defaults of LlamaConfig / MistralConfig / Qwen2Config / GPT2Config ---

  template <typename T>
  static T value_or(const nlohmann::json& j, const char* key, T fallback) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? fallback : it->get<T>();
  }

  void read_config(const nlohmann::json& c) {
    const std::string arch = c.at("architectures").at(0).get<std::string>();
    const std::string model_type = c.at("model_type").get<std::string>();
    classifier_ = arch.find("ForSequenceClassification") != std::string::npos;
    if (c.contains("pad_token_id") && !c["pad_token_id"].is_null()) pad_ = c["pad_token_id"].get<int32_t>();
    vocab_ = c.at("vocab_size").get<int64_t>();
    if (model_type == "gpt2") {
      gpt2_ = true;
      hidden_ = c.at("n_embd").get<int64_t>();
      layers_ = c.at("n_layer").get<int64_t>();
      heads_ = kv_heads_ = c.at("n_head").get<int64_t>();
      head_dim_ = hidden_ / heads_;
      inter_ = value_or<int64_t>(c, "n_inner", 4 * hidden_);
      eps_ = value_or<double>(c, "layer_norm_epsilon", 1e-5);
      act_ = value_or<std::string>(c, "activation_function", "gelu_new");
      tied_ = value_or<bool>(c, "tie_word_embeddings", true);
      scale_attn_weights_ = value_or<bool>(c, "scale_attn_weights", true);
      scale_by_layer_ = value_or<bool>(c, "scale_attn_by_inverse_layer_idx", false);
      return;
    }
    hidden_ = c.at("hidden_size").get<int64_t>();
    layers_ = c.at("num_hidden_layers").get<int64_t>();
    heads_ = c.at("num_attention_heads").get<int64_t>();
    kv_heads_ = value_or<int64_t>(c, "num_key_value_heads", heads_);
    head_dim_ = value_or<int64_t>(c, "head_dim", hidden_ / heads_);
    inter_ = c.at("intermediate_size").get<int64_t>();
    eps_ = value_or<double>(c, "rms_norm_eps", 1e-6);
    act_ = value_or<std::string>(c, "hidden_act", "silu");
    tied_ = value_or<bool>(c, "tie_word_embeddings", false);
    if (model_type == "qwen2") {
      // Qwen2Attention: q/k/v always carry a bias, o_proj never. Sliding window only with
      // use_sliding_window, and only on layers >= max_window_layers (Qwen2Config.layer_types).
      qkv_bias_ = true;
      if (value_or<bool>(c, "use_sliding_window", false)) {
        window_ = value_or<int64_t>(c, "sliding_window", 4096);
        first_window_layer_ = value_or<int64_t>(c, "max_window_layers", 28);
      }
    } else {
      qkv_bias_ = o_bias_ = value_or<bool>(c, "attention_bias", false);
      mlp_bias_ = value_or<bool>(c, "mlp_bias", false);
      if (model_type == "mistral") {
        // MistralConfig(sliding_window=4096): absent means 4096, null means none.
        if (!c.contains("sliding_window")) {
          window_ = 4096;
        } else if (!c["sliding_window"].is_null()) {
          window_ = c["sliding_window"].get<int64_t>();
        }
      }
    }
    read_rope(c);
  }

  // transformers 5: rope_parameters {rope_type, rope_theta, ...}; 4.x: rope_theta at the top and
  // rope_scaling {rope_type | type, ...} or null.
  void read_rope(const nlohmann::json& c) {
    double theta = value_or<double>(c, "rope_theta", 10000.0);
    nlohmann::json scaling = nlohmann::json::object();
    if (c.contains("rope_parameters") && c["rope_parameters"].is_object()) {
      scaling = c["rope_parameters"];
      theta = value_or<double>(scaling, "rope_theta", theta);
    } else if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) {
      scaling = c["rope_scaling"];
    }
    const std::string type = value_or<std::string>(scaling, "rope_type", value_or<std::string>(scaling, "type", "default"));

    // _compute_default_rope_parameters: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)),
    // a float32 tensor.
    const int64_t dim = head_dim_;
    inv_freq_.clear();
    for (int64_t i = 0; i < dim; i += 2) {
      const float exponent = static_cast<float>(i) / static_cast<float>(dim);
      const float base_pow = static_cast<float>(std::pow(theta, static_cast<double>(exponent)));
      inv_freq_.push_back(1.0f / base_pow);
    }
    if (type == "default") return;
    const double factor = scaling.at("factor").get<double>();
    if (type == "linear") {
      for (float& f : inv_freq_) f = static_cast<float>(f / factor);  // inv_freq /= factor
      return;
    }
    if (type != "llama3") throw std::runtime_error("reference: rope type " + type);
    // _compute_llama3_parameters.
    const double low = scaling.at("low_freq_factor").get<double>();
    const double high = scaling.at("high_freq_factor").get<double>();
    const double old_len = scaling.at("original_max_position_embeddings").get<double>();
    const double low_freq_wavelen = old_len / low;
    const double high_freq_wavelen = old_len / high;
    for (float& f : inv_freq_) {
      const double wavelen = 2 * std::numbers::pi / f;
      double scaled = f;
      if (wavelen > low_freq_wavelen) {
        scaled = f / factor;
      } else if (!(wavelen < high_freq_wavelen)) {
        const double smooth = (old_len / wavelen - low) / (high - low);
        scaled = (1 - smooth) * f / factor + smooth * f;
      }
      f = static_cast<float>(scaled);
    }
  }

  // --- model.safetensors: 8-byte little-endian header length, JSON header, raw data ---

  static double widen(const std::string& dtype, const unsigned char* p) {
    if (dtype == "F32") {
      uint32_t bits = 0;
      for (int i = 3; i >= 0; --i) bits = (bits << 8) | p[i];
      return std::bit_cast<float>(bits);
    }
    const uint32_t h = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
    if (dtype == "BF16") return std::bit_cast<float>(h << 16);
    if (dtype != "F16") throw std::runtime_error("reference: dtype " + dtype);
    // IEEE binary16: sign, 5-bit exponent (bias 15), 10-bit mantissa.
    const double sign = (h & 0x8000u) ? -1.0 : 1.0;
    const int exponent = static_cast<int>((h >> 10) & 0x1fu);
    const double mantissa = static_cast<double>(h & 0x3ffu);
    if (exponent == 0) return sign * std::ldexp(mantissa, -24);
    if (exponent == 31) return mantissa == 0 ? sign * INFINITY : NAN;
    return sign * std::ldexp(1024.0 + mantissa, exponent - 25);
  }

  void read_tensors(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    const std::string bytes = s.str();
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes.at(static_cast<size_t>(i)));
    const auto header = nlohmann::json::parse(bytes.substr(8, n));
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data()) + 8 + n;
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") continue;
      Tensor t;
      t.shape = entry.at("shape").get<std::vector<int64_t>>();
      const std::string dtype = entry.at("dtype").get<std::string>();
      const size_t begin = entry.at("data_offsets").at(0).get<size_t>();
      const size_t end = entry.at("data_offsets").at(1).get<size_t>();
      const size_t width = dtype == "F32" ? 4 : 2;
      for (size_t off = begin; off < end; off += width) t.values.push_back(widen(dtype, data + off));
      tensors_[name] = std::move(t);
    }
  }

  const Tensor& tensor(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw std::runtime_error("reference: no tensor " + name);
    return it->second;
  }
  const Tensor* optional_tensor(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  std::string embed_name() const { return gpt2_ ? "transformer.wte.weight" : "model.embed_tokens.weight"; }

  // --- building blocks ---

  // nn.Linear: weight [out, in], y = W x + b.
  static Vec linear(const Tensor& w, const Tensor* b, const Vec& x) {
    const int64_t out = w.shape[0], in = w.shape[1];
    Vec y(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      double sum = b ? b->values[static_cast<size_t>(o)] : 0.0;
      for (int64_t i = 0; i < in; ++i) sum += w.values[static_cast<size_t>(o * in + i)] * x[static_cast<size_t>(i)];
      y[static_cast<size_t>(o)] = sum;
    }
    return y;
  }
  // GPT-2 Conv1D: weight [in, out], y = x W + b.
  static Vec conv1d(const Tensor& w, const Tensor& b, const Vec& x) {
    const int64_t in = w.shape[0], out = w.shape[1];
    Vec y(b.values.begin(), b.values.end());
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t o = 0; o < out; ++o) y[static_cast<size_t>(o)] += x[static_cast<size_t>(i)] * w.values[static_cast<size_t>(i * out + o)];
    }
    return y;
  }
  // LlamaRMSNorm: weight * x / sqrt(mean(x^2) + eps).
  Vec rms_norm(const std::string& prefix, const Vec& x) const {
    double ms = 0;
    for (double v : x) ms += v * v;
    ms /= static_cast<double>(x.size());
    const double r = 1.0 / std::sqrt(ms + eps_);
    const Tensor& w = tensor(prefix + ".weight");
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = w.values[i] * (x[i] * r);
    return y;
  }
  // nn.LayerNorm: (x - mean) / sqrt(var + eps) * weight + bias, biased variance.
  Vec layer_norm(const std::string& prefix, const Vec& x) const {
    double mean = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    double var = 0;
    for (double v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(x.size());
    const Tensor& w = tensor(prefix + ".weight");
    const Tensor& b = tensor(prefix + ".bias");
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps_) * w.values[i] + b.values[i];
    return y;
  }
  Vec norm(const std::string& prefix, const Vec& x) const { return gpt2_ ? layer_norm(prefix, x) : rms_norm(prefix, x); }

  // ACT2FN.
  double activate(double x) const {
    if (act_ == "silu" || act_ == "swish") return x / (1.0 + std::exp(-x));
    if (act_ == "gelu") return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
    if (act_ == "gelu_new" || act_ == "gelu_pytorch_tanh" || act_ == "gelu_fast") {
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
    }
    if (act_ == "relu") return x > 0 ? x : 0.0;
    throw std::runtime_error("reference: activation " + act_);
  }

  // apply_rotary_pos_emb on one head: x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1].
  void rotate(double* x, int64_t position) const {
    const int64_t half = head_dim_ / 2;
    for (int64_t i = 0; i < half; ++i) {
      const float angle = inv_freq_[static_cast<size_t>(i)] * static_cast<float>(position);  // float32, as HF
      const double c = std::cos(static_cast<double>(angle)), s = std::sin(static_cast<double>(angle));
      const double x1 = x[i], x2 = x[i + half];
      x[i] = x1 * c - x2 * s;
      x[i + half] = x2 * c + x1 * s;
    }
  }

  std::optional<int64_t> window_for_layer(int64_t layer) const {
    if (window_ && layer >= first_window_layer_) return window_;
    return std::nullopt;
  }

  // The final (normalised) hidden state of every position.
  std::vector<Vec> final_hidden(const std::vector<int32_t>& ids) const {
    const size_t n = ids.size();
    const Tensor& embed = tensor(embed_name());
    std::vector<Vec> x(n, Vec(static_cast<size_t>(hidden_)));
    for (size_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < hidden_; ++i) {
        double v = embed.values[static_cast<size_t>(ids[t] * hidden_ + i)];
        if (gpt2_) v += tensor("transformer.wpe.weight").values[static_cast<size_t>(static_cast<int64_t>(t) * hidden_ + i)];
        x[t][static_cast<size_t>(i)] = v;
      }
    }
    for (int64_t l = 0; l < layers_; ++l) {
      const std::string p = (gpt2_ ? "transformer.h." : "model.layers.") + std::to_string(l) + ".";
      attention_block(p, l, x);
      mlp_block(p, x);
    }
    for (auto& h : x) h = norm(gpt2_ ? "transformer.ln_f" : "model.norm", h);
    return x;
  }

  void attention_block(const std::string& p, int64_t layer, std::vector<Vec>& x) const {
    const size_t n = x.size();
    const int64_t q_dim = heads_ * head_dim_, kv_dim = kv_heads_ * head_dim_;
    std::vector<Vec> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      const Vec h = norm(p + (gpt2_ ? "ln_1" : "input_layernorm"), x[t]);
      if (gpt2_) {
        const Vec qkv = conv1d(tensor(p + "attn.c_attn.weight"), tensor(p + "attn.c_attn.bias"), h);
        q[t].assign(qkv.begin(), qkv.begin() + q_dim);
        k[t].assign(qkv.begin() + q_dim, qkv.begin() + q_dim + kv_dim);
        v[t].assign(qkv.begin() + q_dim + kv_dim, qkv.end());
      } else {
        const auto bias = [&](const std::string& name) { return qkv_bias_ ? &tensor(name) : nullptr; };
        q[t] = linear(tensor(p + "self_attn.q_proj.weight"), bias(p + "self_attn.q_proj.bias"), h);
        k[t] = linear(tensor(p + "self_attn.k_proj.weight"), bias(p + "self_attn.k_proj.bias"), h);
        v[t] = linear(tensor(p + "self_attn.v_proj.weight"), bias(p + "self_attn.v_proj.bias"), h);
        for (int64_t hq = 0; hq < heads_; ++hq) rotate(q[t].data() + hq * head_dim_, static_cast<int64_t>(t));
        for (int64_t hk = 0; hk < kv_heads_; ++hk) rotate(k[t].data() + hk * head_dim_, static_cast<int64_t>(t));
      }
    }
    double scale = 1.0;
    if (!gpt2_ || scale_attn_weights_) scale /= std::sqrt(static_cast<double>(head_dim_));
    if (gpt2_ && scale_by_layer_) scale /= static_cast<double>(layer + 1);
    const auto window = window_for_layer(layer);
    const int64_t group = heads_ / kv_heads_;  // repeat_kv
    for (size_t t = 0; t < n; ++t) {
      Vec attn(static_cast<size_t>(q_dim), 0.0);
      for (int64_t hq = 0; hq < heads_; ++hq) {
        const int64_t hk = hq / group;
        // Causal, and with a sliding window: kv_idx > q_idx - sliding_window.
        const size_t first = window && static_cast<int64_t>(t) >= *window ? t - static_cast<size_t>(*window) + 1 : 0;
        std::vector<double> scores;
        for (size_t j = first; j <= t; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < head_dim_; ++d) {
            dot += q[t][static_cast<size_t>(hq * head_dim_ + d)] * k[j][static_cast<size_t>(hk * head_dim_ + d)];
          }
          scores.push_back(dot * scale);
        }
        const double mx = *std::max_element(scores.begin(), scores.end());
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - mx));
        for (size_t j = first; j <= t; ++j) {
          const double w = scores[j - first] / total;
          for (int64_t d = 0; d < head_dim_; ++d) {
            attn[static_cast<size_t>(hq * head_dim_ + d)] += w * v[j][static_cast<size_t>(hk * head_dim_ + d)];
          }
        }
      }
      const Vec out = gpt2_ ? conv1d(tensor(p + "attn.c_proj.weight"), tensor(p + "attn.c_proj.bias"), attn)
                            : linear(tensor(p + "self_attn.o_proj.weight"),
                                     o_bias_ ? &tensor(p + "self_attn.o_proj.bias") : nullptr, attn);
      for (size_t i = 0; i < out.size(); ++i) x[t][i] += out[i];
    }
  }

  void mlp_block(const std::string& p, std::vector<Vec>& x) const {
    for (auto& xt : x) {
      const Vec h = norm(p + (gpt2_ ? "ln_2" : "post_attention_layernorm"), xt);
      Vec out;
      if (gpt2_) {
        Vec a = conv1d(tensor(p + "mlp.c_fc.weight"), tensor(p + "mlp.c_fc.bias"), h);
        for (double& e : a) e = activate(e);
        out = conv1d(tensor(p + "mlp.c_proj.weight"), tensor(p + "mlp.c_proj.bias"), a);
      } else {
        const auto bias = [&](const std::string& name) { return mlp_bias_ ? &tensor(name) : nullptr; };
        const Vec gate = linear(tensor(p + "mlp.gate_proj.weight"), bias(p + "mlp.gate_proj.bias"), h);
        const Vec up = linear(tensor(p + "mlp.up_proj.weight"), bias(p + "mlp.up_proj.bias"), h);
        Vec a(gate.size());
        for (size_t i = 0; i < a.size(); ++i) a[i] = activate(gate[i]) * up[i];
        out = linear(tensor(p + "mlp.down_proj.weight"), bias(p + "mlp.down_proj.bias"), a);
      }
      for (size_t i = 0; i < out.size(); ++i) xt[i] += out[i];
    }
  }

  bool gpt2_ = false;
  bool classifier_ = false;
  int64_t vocab_ = 0, hidden_ = 0, layers_ = 0, heads_ = 0, kv_heads_ = 0, head_dim_ = 0, inter_ = 0;
  double eps_ = 1e-6;
  std::string act_;
  bool tied_ = false;
  bool qkv_bias_ = false, o_bias_ = false, mlp_bias_ = false;
  std::optional<int64_t> window_;
  int64_t first_window_layer_ = 0;
  bool scale_attn_weights_ = true, scale_by_layer_ = false;
  std::optional<int32_t> pad_;
  std::vector<float> inv_freq_;  // (head_dim / 2), float32 as HF's buffer
  std::map<std::string, Tensor> tensors_;
};

}  // namespace genarm::testing
