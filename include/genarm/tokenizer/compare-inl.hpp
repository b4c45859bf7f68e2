// Out-of-line definitions of tokenizer/compare.hpp and Tokenizer::compare (see core/compiled.hpp).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include "genarm/tokenizer/compare.hpp"
#include "genarm/tokenizer/tokenizer-inl.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

namespace tokenizer::detail {

inline std::string describe_option(const std::optional<std::string>& s) { return s ? tokenizer::quote_token(*s) : "none"; }
inline std::string describe_option(const std::string& s) { return tokenizer::quote_token(s); }
inline std::string describe_option(bool b) { return b ? "true" : "false"; }

}  // namespace tokenizer::detail

GENARM_INLINE std::string tokenizer::quote_token(std::string_view s) {
  std::string out = "'";
  size_t shown = 0;
  for (const char ch : s) {
    if (++shown > 80) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\'' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "'";
}

GENARM_INLINE std::string tokenizer::describe_extra_tokens(const std::vector<ExtraToken>& extra, size_t max_listed) {
  std::string out = std::to_string(extra.size()) + (extra.size() == 1 ? " extra token" : " extra tokens");
  if (extra.empty()) return out;
  out += ": ";
  for (size_t i = 0; i < extra.size() && i < max_listed; ++i) {
    const ExtraToken& t = extra[i];
    if (i) out += ", ";
    out += std::to_string(t.id) + " " + quote_token(t.content);
    if (t.special) {
      out += " (special)";
    } else if (!t.added) {
      out += " (model vocabulary)";
    }
  }
  if (extra.size() > max_listed) out += ", ...";
  return out;
}

GENARM_INLINE std::string tokenizer::describe_accepted(const Comparison& c) {
  std::string out;
  if (!c.extra_tokens.empty()) {
    out = describe_extra_tokens(c.extra_tokens) + " beyond the base vocabulary of " + std::to_string(c.base_size) +
          " tokens, cut away when decoding";
  }
  for (const auto& note : c.notes) out += (out.empty() ? "" : "; ") + note;
  if (!c.notes.empty()) out += " (prompts are encoded with the base tokenizer)";
  return out;
}

GENARM_INLINE size_t Tokenizer::model_vocab_size() const { return state_->model->id_bound(); }

GENARM_INLINE size_t Tokenizer::added_token_count() const {
  return static_cast<size_t>(std::count_if(state_->added_index.begin(), state_->added_index.end(),
                                           [](int32_t i) { return i >= 0; }));
}

GENARM_INLINE std::vector<tokenizer::ExtraToken> Tokenizer::tokens_from(size_t first_id) const {
  const State& s = *state_;
  std::vector<tokenizer::ExtraToken> out;
  for (size_t id = first_id; id < s.id_to_token.size(); ++id) {
    if (!(s.flags[id] & State::kPresent)) continue;
    out.push_back({static_cast<int32_t>(id), s.id_to_token[id], s.added_index[id] >= 0,
                   (s.flags[id] & State::kSpecial) != 0});
  }
  return out;
}

GENARM_INLINE tokenizer::Comparison Tokenizer::compare(const Tokenizer& other, std::string_view base_label,
                                                     std::string_view other_label) const {
  using tokenizer::Comparison;
  using tokenizer::quote_token;
  using detail::make_message;
  const State& b = *state_;
  const State& o = *other.state_;
  Comparison c;
  c.base_size = vocab_size();
  c.other_size = other.vocab_size();
  c.extra_tokens = other.tokens_from(c.base_size);
  const auto differ = [&](Comparison::Kind kind, std::string text) {
    c.kind = kind;
    c.difference = std::move(text);
    return c;
  };
  if (c.other_size < c.base_size) {
    return differ(Comparison::Kind::kSmaller,
                  make_message("its vocabulary is smaller: ", c.other_size, " token ids in ", other_label, " and ",
                               c.base_size, " in ", base_label));
  }

  // Every id of the base, as a token of the whole vocabulary and of the BPE model's own.
  const auto at_id = [&](size_t id, const auto&... what) {
    c.differing_id = static_cast<int32_t>(id);
    return differ(Comparison::Kind::kToken, make_message("at id ", id, ", ", what...));
  };
  const auto token_or_none = [](const State& s, size_t id) {
    return (s.flags[id] & State::kPresent) ? quote_token(s.id_to_token[id]) : std::string("no token");
  };
  for (size_t id = 0; id < c.base_size; ++id) {
    const bool bp = (b.flags[id] & State::kPresent) != 0, op = (o.flags[id] & State::kPresent) != 0;
    if (bp != op || (bp && b.id_to_token[id] != o.id_to_token[id])) {
      return at_id(id, token_or_none(b, id), " in ", base_label, " and ", token_or_none(o, id), " in ", other_label);
    }
    if (!bp) continue;
    const std::string token = quote_token(b.id_to_token[id]);
    const int32_t ba = b.added_index[id], oa = o.added_index[id];
    if ((ba >= 0) != (oa >= 0)) {
      return at_id(id, token, " is an added token in ", ba >= 0 ? base_label : other_label, " but not in ",
                   ba >= 0 ? other_label : base_label);
    }
    const bool bs = (b.flags[id] & State::kSpecial) != 0, os = (o.flags[id] & State::kSpecial) != 0;
    if (bs != os) {
      return at_id(id, token, " is a special token in ", bs ? base_label : other_label, " but not in ",
                   bs ? other_label : base_label);
    }
    const auto& bm = b.model->tokens();
    const auto& om = o.model->tokens();
    const bool bmp = b.model->present(static_cast<int32_t>(id)), omp = o.model->present(static_cast<int32_t>(id));
    if (bmp != omp || (bmp && bm[id] != om[id])) {
      const auto model_token = [](bool present, const std::vector<std::string>& tokens, size_t i) {
        return present ? quote_token(tokens[i]) : std::string("no token");
      };
      return at_id(id, "the BPE vocabulary has ", model_token(bmp, bm, id), " in ", base_label, " and ",
                   model_token(omp, om, id), " in ", other_label, " (under the added token ", token, ")");
    }
    if (ba >= 0) {
      const auto& bt = b.added.tokens()[static_cast<size_t>(ba)];
      const auto& ot = o.added.tokens()[static_cast<size_t>(oa)];
      const auto note = [&](const char* option, bool bv, bool ov) {
        if (bv == ov) return;
        c.notes.push_back(make_message("the added token ", token, " (id ", id, ") has ", option, "=",
                                       bv ? "true" : "false", " in ", base_label, " and ", option, "=",
                                       ov ? "true" : "false", " in ", other_label));
      };
      note("lstrip", bt.lstrip, ot.lstrip);
      note("rstrip", bt.rstrip, ot.rstrip);
      note("single_word", bt.single_word, ot.single_word);
      note("normalized", bt.normalized, ot.normalized);
    }
  }

  // The BPE model's rules.
  if (b.model_type != o.model_type) {
    return differ(Comparison::Kind::kModel, make_message("the model type differs: ", b.model_type, " in ", base_label,
                                                         " and ", o.model_type, " in ", other_label));
  }
  const auto& bml = b.model->merge_list();
  const auto& oml = o.model->merge_list();
  const auto merge_text = [](const State& s, const std::pair<int32_t, int32_t>& m) {
    const auto& t = s.model->tokens();
    return quote_token(t[static_cast<size_t>(m.first)] + " " + t[static_cast<size_t>(m.second)]);
  };
  const auto same_merge = [&](const std::pair<int32_t, int32_t>& x, const std::pair<int32_t, int32_t>& y) {
    const auto& bt = b.model->tokens();
    const auto& ot = o.model->tokens();
    return bt[static_cast<size_t>(x.first)] == ot[static_cast<size_t>(y.first)] &&
           bt[static_cast<size_t>(x.second)] == ot[static_cast<size_t>(y.second)];
  };
  for (size_t r = 0; r < std::min(bml.size(), oml.size()); ++r) {
    if (!same_merge(bml[r], oml[r])) {
      return differ(Comparison::Kind::kModel,
                    make_message("the BPE merges differ at rank ", r, ": ", merge_text(b, bml[r]), " in ", base_label,
                                 " and ", merge_text(o, oml[r]), " in ", other_label));
    }
  }
  if (bml.size() != oml.size()) {
    return differ(Comparison::Kind::kModel,
                  make_message("the BPE merges differ: ", bml.size(), " in ", base_label, " and ", oml.size(), " in ",
                               other_label, " (the first ", std::min(bml.size(), oml.size()), " agree)"));
  }
  const auto& bo = b.model->options();
  const auto& oo = o.model->options();
  const auto option = [&](const char* name, const auto& bv, const auto& ov) {
    if (bv == ov || c.kind != Comparison::Kind::kNone) return;
    using tokenizer::detail::describe_option;
    differ(Comparison::Kind::kModel, make_message("the BPE option ", name, " differs: ", describe_option(bv), " in ",
                                                  base_label, " and ", describe_option(ov), " in ", other_label));
  };
  option("unk_token", bo.unk_token, oo.unk_token);
  option("continuing_subword_prefix", bo.continuing_subword_prefix, oo.continuing_subword_prefix);
  option("end_of_word_suffix", bo.end_of_word_suffix, oo.end_of_word_suffix);
  option("fuse_unk", bo.fuse_unk, oo.fuse_unk);
  option("byte_fallback", bo.byte_fallback, oo.byte_fallback);
  option("ignore_merges", bo.ignore_merges, oo.ignore_merges);
  if (!c.compatible()) return c;

  // The pipeline around the model, each component by the fingerprint of its behaviour.
  static constexpr const char* kNames[] = {"normalizer", "pre-tokenizer", "post-processor", "decoder"};
  static constexpr Comparison::Kind kKinds[] = {Comparison::Kind::kNormalizer, Comparison::Kind::kPreTokenizer,
                                                Comparison::Kind::kPostProcessor, Comparison::Kind::kDecoder};
  for (size_t i = 0; i < b.components.size(); ++i) {
    const auto& bc = b.components[i];
    const auto& oc = o.components[i];
    if (bc.fingerprint == oc.fingerprint) continue;
    std::string text = make_message("the ", kNames[i], " differs: ");
    if (bc.kind != oc.kind) {
      text += make_message(bc.kind, " in ", base_label, " and ", oc.kind, " in ", other_label);
    } else if (!bc.json.empty() && !oc.json.empty() && bc.json != oc.json) {
      text += make_message(bc.json, " in ", base_label, " and ", oc.json, " in ", other_label);
    } else {
      text += make_message(bc.kind, " in both, with different settings");
    }
    return differ(kKinds[i], std::move(text));
  }
  return c;
}

}  // namespace genarm
