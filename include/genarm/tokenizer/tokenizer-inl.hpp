// Out-of-line definitions of tokenizer.hpp (see core/compiled.hpp): loading tokenizer.json into
// the pipeline of components, encode and decode.
#pragma once

#include <array>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "genarm/core/utf8.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/added_vocabulary.hpp"
#include "genarm/tokenizer/bpe.hpp"
#include "genarm/tokenizer/decoder.hpp"
#include "genarm/tokenizer/detail/hash.hpp"
#include "genarm/tokenizer/normalizer.hpp"
#include "genarm/tokenizer/pieces.hpp"
#include "genarm/tokenizer/post_processor.hpp"
#include "genarm/tokenizer/pre_tokenizer.hpp"
#include "genarm/tokenizer/tokenizer.hpp"

namespace genarm {

namespace tokenizer::detail {

struct DecodeScratchImpl {
  TokenList tokens;
  DecoderScratch decoder;
};

// Per-call working memory of encode.
struct EncodeScratch {
  std::vector<AddedSplit> raw_splits;
  std::vector<AddedSplit> normalized_splits;
  NormalizedString normalized;
  NormalizerScratch normalizer;
  PieceList pieces;
  PreTokenizerScratch pre_tokenizer;
  BpeScratch bpe;
};

// One pipeline component as Tokenizer::compare sees it: the fingerprint of its behaviour and, for
// messages, what tokenizer.json says it is.
struct ComponentInfo {
  uint64_t fingerprint = 0;
  std::string kind;  // "Sequence[Prepend, Replace]", "none"
  std::string json;  // the component's JSON when short (<= 240 bytes), else empty
};

struct TokenizerState {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::optional<BpeModel> model;
  AddedVocabulary added;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  std::vector<std::string> id_to_token;  // model vocabulary, overridden by added tokens
  std::vector<uint8_t> flags;            // per id: kPresent | kSpecial | kSkipped
  std::vector<int32_t> added_index;      // per id: index in added.tokens() of its added token, or -1
  uint64_t fingerprint = 0;
  std::string model_type;                      // "BPE"
  std::array<ComponentInfo, 4> components;     // normalizer, pre-tokenizer, post-processor, decoder

  static constexpr uint8_t kPresent = 1;
  static constexpr uint8_t kSpecial = 2;  // an added token with special=true
  static constexpr uint8_t kSkipped = 4;  // skipped by decode(skip_special_tokens=true)
};

}  // namespace tokenizer::detail

namespace tokenizer {

GENARM_INLINE DecodeScratch::DecodeScratch() : impl_(std::make_unique<detail::DecodeScratchImpl>()) {}
GENARM_INLINE DecodeScratch::~DecodeScratch() = default;
GENARM_INLINE DecodeScratch::DecodeScratch(const DecodeScratch&) : DecodeScratch() {}
GENARM_INLINE DecodeScratch& DecodeScratch::operator=(const DecodeScratch&) { return *this; }
GENARM_INLINE DecodeScratch::DecodeScratch(DecodeScratch&&) noexcept = default;
GENARM_INLINE DecodeScratch& DecodeScratch::operator=(DecodeScratch&&) noexcept = default;
GENARM_INLINE detail::DecodeScratchImpl& DecodeScratch::impl() {
  if (!impl_) impl_ = std::make_unique<detail::DecodeScratchImpl>();
  return *impl_;
}

}  // namespace tokenizer

GENARM_INLINE Tokenizer Tokenizer::from_file(const std::filesystem::path& json_or_dir) {
  std::filesystem::path path = json_or_dir;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    path /= "tokenizer.json";
    if (!std::filesystem::exists(path, ec)) {
      fail(ErrorCategory::kIo, "no tokenizer.json in directory '", json_or_dir.string(), "'");
    }
  }
  // Size and nesting bounded before parsing (a hostile tokenizer.json cannot exhaust the stack).
  const nlohmann::json j = io::read_json_file(path);
  return from_json(j, path.string());
}

GENARM_INLINE Tokenizer Tokenizer::from_json(const nlohmann::json& j, std::string_view origin) {
  Tokenizer t;
  t.state_ = load(io::JsonView(j, std::string(origin), ErrorCategory::kTokenizer));
  return t;
}

GENARM_INLINE Tokenizer::Encoding Tokenizer::encode_with_tokens(std::string_view text, bool add_special_tokens) const {
  Encoding e;
  encode_impl(text, add_special_tokens, e.ids, &e.tokens);
  return e;
}

GENARM_INLINE std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  encode_impl(text, add_special_tokens, ids, nullptr);
  return ids;
}

GENARM_INLINE std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  DecodeScratch scratch;
  decode_into(ids, skip_special_tokens, out, scratch);
  return out;
}

GENARM_INLINE void Tokenizer::decode_into(std::span<const int32_t> ids, bool skip_special_tokens, std::string& out, DecodeScratch& scratch) const {
  const auto& s = *state_;
  auto& sc = scratch.impl();
  sc.tokens.clear();
  for (const int32_t id : ids) {
    check_id(id, "decode");
    const uint8_t f = s.flags[static_cast<size_t>(id)];
    if (skip_special_tokens && (f & State::kSkipped)) continue;
    sc.tokens.append(s.id_to_token[static_cast<size_t>(id)]);
  }
  if (s.decoder) {
    s.decoder->decode_chain(sc.tokens, sc.decoder);
    sc.tokens.join_into(out);
  } else {
    sc.tokens.join_into(out, " ");  // HF joins with spaces when there is no decoder
  }
}

GENARM_INLINE size_t Tokenizer::vocab_size() const { return state_->id_to_token.size(); }

GENARM_INLINE std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const auto* added = state_->added.find(token)) return added->id;
  return state_->model->token_to_id(token);
}

GENARM_INLINE std::string_view Tokenizer::id_to_token(int32_t id) const {
  check_id(id, "id_to_token");
  return state_->id_to_token[static_cast<size_t>(id)];
}

GENARM_INLINE bool Tokenizer::is_special(int32_t id) const {
  return valid_id(id) && (state_->flags[static_cast<size_t>(id)] & State::kSpecial);
}

GENARM_INLINE bool Tokenizer::skipped_in_decode(int32_t id, bool skip_special_tokens) const {
  return skip_special_tokens && valid_id(id) && (state_->flags[static_cast<size_t>(id)] & State::kSkipped);
}

GENARM_INLINE bool Tokenizer::is_decode_cut_point(int32_t id) const {
  if (!valid_id(id) || !state_->decoder) return true;
  return state_->decoder->is_cut_point(state_->id_to_token[static_cast<size_t>(id)]);
}

GENARM_INLINE uint64_t Tokenizer::fingerprint() const { return state_->fingerprint; }

GENARM_INLINE bool Tokenizer::valid_id(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < state_->flags.size() &&
         (state_->flags[static_cast<size_t>(id)] & State::kPresent);
}

GENARM_INLINE void Tokenizer::check_id(int32_t id, std::string_view what) const {
  if (id < 0 || static_cast<size_t>(id) >= state_->flags.size()) {
    fail(ErrorCategory::kInvalidArgument, what, ": token id ", id, " is outside the vocabulary [0, ",
         state_->flags.size(), ")");
  }
  if (!(state_->flags[static_cast<size_t>(id)] & State::kPresent)) {
    fail(ErrorCategory::kInvalidArgument, what, ": token id ", id, " has no token in the vocabulary");
  }
}

GENARM_INLINE std::shared_ptr<const Tokenizer::State> Tokenizer::load(const io::JsonView& root) {
  root.expect_object();
  if (const auto v = root.find("version")) {
    const std::string version = v->as_string();
    if (version != "1.0") v->unsupported("unsupported tokenizer.json version '", version, "'");
  }
  auto state = std::make_shared<State>();

  const io::JsonView model = root.at("model");
  model.expect_object();
  // Very old files have an untagged BPE model.
  const std::string type = !model.has("type") && model.has("merges") ? "BPE" : model.type();
  if (type != "BPE") {
    model.at("type").unsupported("unsupported model type '", type,
                                 "' (genarm implements the BPE model only)");
  }
  state->model.emplace(tokenizer::BpeModel::from_json(model));

  if (const auto n = root.find("normalizer")) state->normalizer = tokenizer::make_normalizer(*n);
  if (const auto p = root.find("pre_tokenizer")) state->pre_tokenizer = tokenizer::make_pre_tokenizer(*p);
  const int64_t max_id = tokenizer::BpeModel::kMaxTokenId;
  if (const auto p = root.find("post_processor")) {
    state->post_processor = tokenizer::make_post_processor(*p, max_id);
  }
  if (const auto d = root.find("decoder")) state->decoder = tokenizer::make_decoder(*d);

  const tokenizer::Normalizer* normalizer = state->normalizer.get();
  const auto normalize = [normalizer](std::string_view s) {
    return normalizer ? normalizer->normalize_string(s) : std::string(s);
  };
  if (const auto a = root.find("added_tokens")) {
    state->added = tokenizer::AddedVocabulary::from_json(*a, max_id, normalize);
  }

  // The id -> token table: the model's tokens, overridden by added tokens (HF looks added
  // tokens up first).
  const auto& model_tokens = state->model->tokens();
  size_t bound = model_tokens.size();
  for (const auto& t : state->added.tokens()) bound = std::max(bound, static_cast<size_t>(t.id) + 1);
  state->id_to_token.assign(bound, std::string());
  state->flags.assign(bound, 0);
  for (size_t id = 0; id < model_tokens.size(); ++id) {
    if (!state->model->present(static_cast<int32_t>(id))) continue;
    state->id_to_token[id] = model_tokens[id];
    state->flags[id] = State::kPresent;
  }
  state->added_index.assign(bound, -1);
  for (size_t i = 0; i < state->added.tokens().size(); ++i) {
    const auto& t = state->added.tokens()[i];
    if (t.content.empty()) continue;
    const auto id = static_cast<size_t>(t.id);
    state->id_to_token[id] = t.content;
    state->flags[id] |= State::kPresent;
    if (t.special) state->flags[id] |= State::kSpecial;
    state->added_index[id] = static_cast<int32_t>(i);
  }
  for (size_t id = 0; id < bound; ++id) {
    if ((state->flags[id] & State::kPresent) && state->added.is_special_content(state->id_to_token[id])) {
      state->flags[id] |= State::kSkipped;
    }
  }
  // Template ids must exist, or decoding our own output would fail.
  if (state->post_processor) {
    std::vector<int32_t> probe;
    state->post_processor->add_special_tokens(probe, nullptr);
    for (const int32_t id : probe) {
      if (id < 0 || static_cast<size_t>(id) >= bound || !(state->flags[static_cast<size_t>(id)] & State::kPresent)) {
        root.at("post_processor").fail("special token id ", id, " is not in the vocabulary");
      }
    }
  }

  state->model_type = type;
  tokenizer::detail::Hasher h;
  state->model->fingerprint(h);
  state->added.fingerprint(h);
  size_t index = 0;
  auto component = [&](const auto& ptr, std::string_view key) {
    tokenizer::detail::Hasher own;
    if (ptr) {
      ptr->fingerprint(h);
      ptr->fingerprint(own);
    } else {
      h.str("none");
      own.str("none");
    }
    tokenizer::detail::ComponentInfo& info = state->components[index++];
    info.fingerprint = own.digest();
    const auto it = root.json().find(key);
    const nlohmann::json null_json;
    const nlohmann::json& j = it == root.json().end() ? null_json : *it;
    info.kind = describe_component(j);
    if (!j.is_null()) {
      std::string dump = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (dump.size() <= 240) info.json = std::move(dump);
    }
  };
  component(state->normalizer, "normalizer");
  component(state->pre_tokenizer, "pre_tokenizer");
  component(state->post_processor, "post_processor");
  component(state->decoder, "decoder");
  state->fingerprint = h.digest();
  return state;
}

GENARM_INLINE std::string Tokenizer::describe_component(const nlohmann::json& j) {
  if (j.is_null()) return "none";
  if (!j.is_object()) return std::string(io::detail::json_type_name(j));
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return "an untyped object";
  std::string out = type->get<std::string>();
  for (const char* list : {"normalizers", "pretokenizers", "processors", "decoders"}) {
    const auto children = j.find(list);
    if (children == j.end() || !children->is_array()) continue;
    out += '[';
    for (size_t i = 0; i < children->size(); ++i) {
      if (i) out += ", ";
      out += describe_component((*children)[i]);
    }
    out += ']';
    break;
  }
  return out;
}

GENARM_INLINE void Tokenizer::encode_impl(std::string_view text, bool add_special_tokens, std::vector<int32_t>& ids, std::vector<std::string>* tokens) const {
  const size_t bad = utf8::find_invalid(text);
  if (bad != std::string_view::npos) {
    fail(ErrorCategory::kTokenizer, "encode: input is not valid UTF-8: ill-formed sequence at byte offset ",
         bad, " (byte 0x", hex_byte(static_cast<unsigned char>(text[bad])), ")");
  }
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    fail(ErrorCategory::kInvalidArgument, "encode: input of ", text.size(), " bytes is too long (max 4 GiB)");
  }
  const State& s = *state_;
  // Working memory reused by every encode on this thread (prompts are often short, so
  // per-call allocations would dominate); released when a huge input inflated it.
  thread_local tokenizer::detail::EncodeScratch scratch;
  struct Release {
    tokenizer::detail::EncodeScratch& scratch;
    ~Release() {
      if (scratch.pieces.buffer.text.capacity() > (size_t{1} << 20) ||
          scratch.normalized.text.capacity() > (size_t{1} << 20)) {
        scratch = tokenizer::detail::EncodeScratch{};
      }
    }
  } release{scratch};
  scratch.raw_splits.clear();
  auto emit_model = [&](std::string_view piece) {
    const size_t before = ids.size();
    s.model->tokenize(piece, ids, scratch.bpe);
    if (tokens) {
      for (size_t i = before; i < ids.size(); ++i) {
        tokens->push_back(s.model->tokens()[static_cast<size_t>(ids[i])]);
      }
    }
  };
  auto emit_added = [&](int32_t id, std::string_view matched) {
    ids.push_back(id);
    if (tokens) tokens->emplace_back(matched);
  };

  s.added.split(text, /*normalized=*/false, scratch.raw_splits);
  for (const tokenizer::AddedSplit& raw : scratch.raw_splits) {
    if (raw.begin == raw.end) continue;
    const std::string_view part = text.substr(raw.begin, raw.end - raw.begin);
    if (raw.id >= 0) {
      emit_added(raw.id, part);
      continue;
    }
    tokenizer::NormalizedString& ns = scratch.normalized;
    ns.assign(part, static_cast<uint32_t>(raw.begin));
    if (s.normalizer) s.normalizer->normalize(ns, scratch.normalizer);
    if (ns.empty()) continue;
    scratch.normalized_splits.clear();
    if (s.added.has_normalized_tokens()) {
      s.added.split(ns.text, /*normalized=*/true, scratch.normalized_splits);
    } else {
      scratch.normalized_splits.push_back({0, ns.size(), -1});
    }
    for (const tokenizer::AddedSplit& sub : scratch.normalized_splits) {
      if (sub.begin == sub.end) continue;
      if (sub.id >= 0) {
        emit_added(sub.id, std::string_view(ns.text).substr(sub.begin, sub.end - sub.begin));
        continue;
      }
      tokenizer::PieceList& pieces = scratch.pieces;
      pieces.clear();
      pieces.buffer.append_range(ns, sub.begin, sub.end);
      pieces.close_piece(0);
      if (s.pre_tokenizer) s.pre_tokenizer->pre_tokenize(pieces, scratch.pre_tokenizer);
      for (size_t i = 0; i < pieces.size(); ++i) emit_model(pieces.piece(i));
    }
  }
  if (add_special_tokens && s.post_processor) s.post_processor->add_special_tokens(ids, tokens);
}

GENARM_INLINE std::string Tokenizer::hex_byte(unsigned char b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {kDigits[b >> 4], kDigits[b & 15]};
}

}  // namespace genarm
