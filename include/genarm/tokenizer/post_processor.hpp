// Post-processors: add the special tokens around an encoded sequence when add_special_tokens is
// true (HF `processors`): TemplateProcessing (e.g. "<s> $A" for Llama, "<|begin_of_text|> $A"
// for Llama 3), RobertaProcessing and BertProcessing ("<cls> $A <sep>"), ByteLevel (only trims
// offsets in HF, so nothing to do for ids) and Sequence. genarm encodes single sequences only,
// so the "pair" templates are not used. Other types are refused with kUnsupported.
// Ownership: owns its templates. Thread-safety: immutable, thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"
#include "genarm/tokenizer/detail/hash.hpp"

namespace genarm::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens of a single sequence; `tokens`, when given, is kept parallel.
  virtual void add_special_tokens(std::vector<int32_t>& ids, std::vector<std::string>* tokens) const = 0;
  virtual void fingerprint(detail::Hasher& h) const = 0;
};

// A template of special tokens and the sequence: each item is either the sequence or a run of
// (id, token) pairs.
class TemplatePostProcessor final : public PostProcessor {
 public:
  struct Item {
    bool is_sequence = false;
    std::vector<int32_t> ids;
    std::vector<std::string> tokens;
  };
  explicit TemplatePostProcessor(std::vector<Item> items) : items_(std::move(items)) {}

  void add_special_tokens(std::vector<int32_t>& ids, std::vector<std::string>* tokens) const override {
    std::vector<int32_t> out_ids;
    std::vector<std::string> out_tokens;
    for (const Item& item : items_) {
      if (item.is_sequence) {
        out_ids.insert(out_ids.end(), ids.begin(), ids.end());
        if (tokens) out_tokens.insert(out_tokens.end(), tokens->begin(), tokens->end());
      } else {
        out_ids.insert(out_ids.end(), item.ids.begin(), item.ids.end());
        if (tokens) out_tokens.insert(out_tokens.end(), item.tokens.begin(), item.tokens.end());
      }
    }
    ids = std::move(out_ids);
    if (tokens) *tokens = std::move(out_tokens);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("template").u64(items_.size());
    for (const Item& item : items_) {
      h.boolean(item.is_sequence).u64(item.ids.size());
      for (size_t i = 0; i < item.ids.size(); ++i) h.i64(item.ids[i]).str(item.tokens[i]);
    }
  }

 private:
  std::vector<Item> items_;
};

class NoOpPostProcessor final : public PostProcessor {
 public:
  void add_special_tokens(std::vector<int32_t>&, std::vector<std::string>*) const override {}
  void fingerprint(detail::Hasher& h) const override { h.str("noop"); }
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> children)
      : children_(std::move(children)) {}
  void add_special_tokens(std::vector<int32_t>& ids, std::vector<std::string>* tokens) const override {
    for (const auto& child : children_) child->add_special_tokens(ids, tokens);
  }
  void fingerprint(detail::Hasher& h) const override {
    h.str("sequence").u64(children_.size());
    for (const auto& child : children_) child->fingerprint(h);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> children_;
};

namespace detail {

// ["<s>", 0] as used by Roberta/BertProcessing.
inline std::pair<std::string, int32_t> read_token_pair(const io::JsonView& j, int64_t max_id) {
  if (!j.is_array() || j.json().size() != 2) j.type_error("[token, id]");
  return {j.at(size_t{0}).as_string(), static_cast<int32_t>(j.at(size_t{1}).as_int(0, max_id))};
}

inline TemplatePostProcessor::Item special_item(const std::string& name,
                                                const std::map<std::string, TemplatePostProcessor::Item>& specials,
                                                const io::JsonView& where) {
  const auto it = specials.find(name);
  if (it == specials.end()) where.fail("special token '", name, "' is not in special_tokens");
  return it->second;
}

inline std::unique_ptr<PostProcessor> make_template(const io::JsonView& j, int64_t max_id) {
  std::map<std::string, TemplatePostProcessor::Item> specials;
  if (const auto st = j.find("special_tokens")) {
    st->for_each_member([&](const std::string& name, const io::JsonView& entry) {
      const io::JsonView ids = entry.at("ids");
      const io::JsonView tokens = entry.at("tokens");
      TemplatePostProcessor::Item item;
      for (size_t i = 0; i < ids.size(); ++i) item.ids.push_back(static_cast<int32_t>(ids.at(i).as_int(0, max_id)));
      for (size_t i = 0; i < tokens.size(); ++i) item.tokens.push_back(tokens.at(i).as_string());
      if (item.ids.size() != item.tokens.size()) entry.fail("'ids' and 'tokens' differ in length");
      specials.emplace(name, std::move(item));
    });
  }
  const io::JsonView single = j.at("single");
  std::vector<TemplatePostProcessor::Item> items;
  auto sequence_item = [&](const std::string& seq, const io::JsonView& where) {
    if (seq != "A") where.unsupported("template for a single sequence uses sequence '", seq, "'");
    TemplatePostProcessor::Item item;
    item.is_sequence = true;
    items.push_back(std::move(item));
  };
  if (single.is_string()) {
    // The string form: "<s> $A", "[CLS]:0 $A:0 [SEP]:0".
    const std::string text = single.as_string();
    size_t p = 0;
    while (p < text.size()) {
      while (p < text.size() && text[p] == ' ') ++p;
      size_t q = p;
      while (q < text.size() && text[q] != ' ') ++q;
      if (q == p) break;
      std::string piece = text.substr(p, q - p);
      p = q;
      if (const size_t colon = piece.rfind(':'); colon != std::string::npos && colon > 0) {
        piece.resize(colon);  // drop the type id
      }
      if (piece[0] == '$') {
        const std::string seq = piece.size() == 1 ? "A" : piece.substr(1);
        sequence_item(seq, single);
      } else {
        items.push_back(special_item(piece, specials, single));
      }
    }
  } else {
    for (size_t i = 0; i < single.size(); ++i) {
      const io::JsonView piece = single.at(i);
      if (const auto s = piece.find("SpecialToken")) {
        items.push_back(special_item(s->at("id").as_string(), specials, *s));
      } else if (const auto q = piece.find("Sequence")) {
        sequence_item(q->at("id").as_string(), *q);
      } else {
        piece.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
    }
  }
  return std::make_unique<TemplatePostProcessor>(std::move(items));
}

}  // namespace detail

inline std::unique_ptr<PostProcessor> make_post_processor(const io::JsonView& j, int64_t max_id) {
  j.expect_object();
  const std::string type = j.type();
  if (type == "TemplateProcessing") return detail::make_template(j, max_id);
  if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    const auto cls = detail::read_token_pair(j.at("cls"), max_id);
    const auto sep = detail::read_token_pair(j.at("sep"), max_id);
    std::vector<TemplatePostProcessor::Item> items(3);
    items[0].ids = {cls.second};
    items[0].tokens = {cls.first};
    items[1].is_sequence = true;
    items[2].ids = {sep.second};
    items[2].tokens = {sep.first};
    return std::make_unique<TemplatePostProcessor>(std::move(items));
  }
  if (type == "Sequence") {
    const io::JsonView list = j.at("processors");
    std::vector<std::unique_ptr<PostProcessor>> children;
    for (size_t i = 0; i < list.size(); ++i) children.push_back(make_post_processor(list.at(i), max_id));
    return std::make_unique<SequencePostProcessor>(std::move(children));
  }
  j.unsupported("unsupported post-processor type '", type, "'");
}

}  // namespace genarm::tokenizer
