// genarm::chat::ChatTemplate — a model's chat template: turns OpenAI-style `messages` into the
// prompt text exactly as Hugging Face transformers'
//   tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=..., tools=...)
// returns it.
//
// Loading (from_model_dir) follows transformers: the template is `chat_template.jinja` next to
// the tokenizer files if present (what newer transformers writes), else tokenizer_config.json's
// "chat_template" (a string, or a list of {"name", "template"} of which "default" is used and
// "tool_use" when tools are given), else chat_template.json's; named templates may also come
// from additional_chat_templates/<name>.jinja. The special tokens the template sees
// (bos_token, eos_token, ...) are tokenizer_config.json's, a string or an AddedToken object
// {"content": ...}, completed from special_tokens_map.json; a token the config does not set is
// undefined in the template, as in transformers.
//
// Rendering passes the variables transformers passes: messages, tools (none unless given),
// documents (none unless given), add_generation_prompt, the special tokens, and any extra
// template variables (date_string, enable_thinking, custom_tools, ...) which override the
// special tokens. Messages are given as JSON (role, content as a string or a list of
// {"type": "text", "text": ...} parts, tool_calls, tool_call_id, ...) and reach the template as
// they are; use nlohmann::ordered_json to keep their key order (which `tojson` shows).
//
// Errors: loading raises genarm::Error naming the file (kIo, kConfig, kFormat for template syntax,
// kUnsupported); rendering raises the template's errors (see jinja.hpp), e.g.
//   ".../tokenizer_config.json: chat_template:1:245: raise_exception: Conversation roles must
//    alternate user/assistant/user/assistant/..."
// Ownership: owns its parsed templates (shared between copies). Thread-safety: immutable after
// construction; render() is thread-safe.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "genarm/chat/jinja.hpp"
#include "genarm/core/error.hpp"
#include "genarm/io/json.hpp"

namespace genarm::chat {

// The special tokens a template sees: transformers' special_tokens_map (only those set).
struct SpecialTokens {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> unk_token;
  std::optional<std::string> sep_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> cls_token;
  std::optional<std::string> mask_token;
  std::vector<std::string> additional_special_tokens;

  // Reads the tokens of a tokenizer_config.json or special_tokens_map.json (string or
  // AddedToken {"content": ...} values; null or absent for unset).
  static SpecialTokens from_config(const io::JsonView& config) {
    SpecialTokens t;
    const auto token = [&](std::string_view key) -> std::optional<std::string> {
      const auto v = config.find(key);
      if (!v) return std::nullopt;
      if (v->is_string()) return v->as_string();
      if (v->is_object()) return v->at("content").as_string();
      v->type_error("a string or an AddedToken object {\"content\": ...}");
    };
    t.bos_token = token("bos_token");
    t.eos_token = token("eos_token");
    t.unk_token = token("unk_token");
    t.sep_token = token("sep_token");
    t.pad_token = token("pad_token");
    t.cls_token = token("cls_token");
    t.mask_token = token("mask_token");
    if (const auto extra = config.find("additional_special_tokens")) {
      for (size_t i = 0; i < extra->size(); ++i) {
        const io::JsonView e = extra->at(i);
        t.additional_special_tokens.push_back(e.is_object() ? e.at("content").as_string() : e.as_string());
      }
    }
    return t;
  }

  // Fills the tokens this one leaves unset from `other`.
  void complete_from(const SpecialTokens& other) {
    const auto fill = [](std::optional<std::string>& mine, const std::optional<std::string>& theirs) {
      if (!mine) mine = theirs;
    };
    fill(bos_token, other.bos_token);
    fill(eos_token, other.eos_token);
    fill(unk_token, other.unk_token);
    fill(sep_token, other.sep_token);
    fill(pad_token, other.pad_token);
    fill(cls_token, other.cls_token);
    fill(mask_token, other.mask_token);
    if (additional_special_tokens.empty()) additional_special_tokens = other.additional_special_tokens;
  }

  // A model folder's tokens, as transformers passes them to a template: tokenizer_config.json,
  // completed from special_tokens_map.json (either may be absent).
  static SpecialTokens from_model_dir(const std::filesystem::path& dir) {
    SpecialTokens tokens;
    for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
      const auto path = dir / name;
      if (!std::filesystem::exists(path)) continue;
      const nlohmann::json j = io::read_json_file(path);
      const io::JsonView view(j, path.string(), ErrorCategory::kConfig);
      view.expect_object();
      tokens.complete_from(from_config(view));
    }
    return tokens;
  }
};

// How to render one conversation.
struct ChatRequest {
  bool add_generation_prompt = true;
  // transformers' continue_final_message: the prompt ends inside the last message, right after
  // its text, for the model to continue it (prefilling a reply); not with add_generation_prompt.
  bool continue_final_message = false;
  // Further template variables (a JSON object): "tools" and "documents" are transformers'
  // arguments of those names; anything else (date_string, enable_thinking, ...) is passed on.
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();
  // A named template; empty picks as transformers does ("tool_use" when tools are given and the
  // model has one, else "default").
  std::string template_name;
  RenderOptions options;
};

class ChatTemplate {
 public:
  static constexpr const char* kDefaultName = "default";
  static constexpr const char* kToolUseName = "tool_use";

  // One template from its text (for --chat-template FILE), with the special tokens it sees.
  static ChatTemplate from_string(std::string_view source, SpecialTokens tokens = {},
                                  std::string origin = "chat template") {
    ChatTemplate t;
    t.tokens_ = std::move(tokens);
    t.templates_.emplace(kDefaultName, JinjaTemplate(source, std::move(origin)));
    return t;
  }

  static ChatTemplate from_file(const std::filesystem::path& path, SpecialTokens tokens = {}) {
    return from_string(read_text(path), std::move(tokens), path.string());
  }

  // The chat template(s) and special tokens of a model folder (see the header comment).
  static ChatTemplate from_model_dir(const std::filesystem::path& dir) {
    ChatTemplate t;
    const std::filesystem::path config_path = dir / "tokenizer_config.json";
    std::optional<nlohmann::json> config;
    if (std::filesystem::exists(config_path)) {
      config = io::read_json_file(config_path);
      const io::JsonView view(*config, config_path.string(), ErrorCategory::kConfig);
      view.expect_object();
      t.tokens_ = SpecialTokens::from_config(view);
      if (const auto templates = view.find("chat_template")) t.add_config_templates(*templates);
    }
    const std::filesystem::path map_path = dir / "special_tokens_map.json";
    if (std::filesystem::exists(map_path)) {
      const nlohmann::json map = io::read_json_file(map_path);
      const io::JsonView view(map, map_path.string(), ErrorCategory::kConfig);
      view.expect_object();
      t.tokens_.complete_from(SpecialTokens::from_config(view));
    }
    const std::filesystem::path jinja_path = dir / "chat_template.jinja";
    if (std::filesystem::exists(jinja_path)) {
      t.templates_.insert_or_assign(kDefaultName, JinjaTemplate(read_text(jinja_path), jinja_path.string()));
    } else if (t.templates_.empty() && std::filesystem::exists(dir / "chat_template.json")) {
      const std::filesystem::path json_path = dir / "chat_template.json";
      const nlohmann::json j = io::read_json_file(json_path);
      const io::JsonView view(j, json_path.string(), ErrorCategory::kConfig);
      t.add_config_templates(view.at("chat_template"));
    }
    const std::filesystem::path extra_dir = dir / "additional_chat_templates";
    if (std::filesystem::is_directory(extra_dir)) {
      for (const auto& entry : std::filesystem::directory_iterator(extra_dir)) {
        if (entry.path().extension() != ".jinja") continue;
        t.templates_.insert_or_assign(entry.path().stem().string(),
                                      JinjaTemplate(read_text(entry.path()), entry.path().string()));
      }
    }
    if (t.templates_.empty()) {
      fail(ErrorCategory::kConfig, dir.string(),
           ": no chat template (tokenizer_config.json has no \"chat_template\" and there is no chat_template.jinja)");
    }
    return t;
  }

  // The prompt for `messages` (a JSON array), with `extra` template variables (see
  // ChatRequest::variables).
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                     const RenderOptions& options = {}) const {
    ChatRequest request;
    request.add_generation_prompt = add_generation_prompt;
    request.variables = extra;
    request.options = options;
    return render(messages, request);
  }

  std::string render(const nlohmann::ordered_json& messages, const ChatRequest& request) const {
    const bool add_generation_prompt = request.add_generation_prompt;
    const nlohmann::ordered_json& extra = request.variables;
    if (request.continue_final_message && add_generation_prompt) {
      fail(ErrorCategory::kInvalidArgument,
           "continue_final_message and add_generation_prompt are not compatible: use continue_final_message "
           "to continue the final message, add_generation_prompt to start a new assistant message");
    }
    if (!messages.is_array()) {
      fail(ErrorCategory::kInvalidArgument, "chat messages: expected a JSON array, got ", messages.type_name());
    }
    if (!extra.is_object() && !extra.is_null()) {
      fail(ErrorCategory::kInvalidArgument, "chat template variables: expected a JSON object, got ", extra.type_name());
    }
    const bool has_tools = extra.is_object() && extra.contains("tools") && !extra["tools"].is_null();
    const JinjaTemplate& tpl = select(request.template_name, has_tools);
    std::shared_ptr<const detail::DictData> variables;
    try {
      detail::DictData d;
      d.set(detail::Value("messages"), detail::from_json(messages));
      d.set(detail::Value("tools"), detail::Value::none());
      d.set(detail::Value("documents"), detail::Value::none());
      d.set(detail::Value("add_generation_prompt"), detail::Value(add_generation_prompt));
      const auto token = [&](const char* name, const std::optional<std::string>& value) {
        if (value) d.set(detail::Value(name), detail::Value(*value));
      };
      token("bos_token", tokens_.bos_token);
      token("eos_token", tokens_.eos_token);
      token("unk_token", tokens_.unk_token);
      token("sep_token", tokens_.sep_token);
      token("pad_token", tokens_.pad_token);
      token("cls_token", tokens_.cls_token);
      token("mask_token", tokens_.mask_token);
      if (!tokens_.additional_special_tokens.empty()) {
        detail::ValueList list;
        for (const std::string& s : tokens_.additional_special_tokens) list.emplace_back(s);
        d.set(detail::Value("additional_special_tokens"), detail::Value::list(std::move(list)));
      }
      if (extra.is_object()) {
        for (auto it = extra.begin(); it != extra.end(); ++it) {
          if (it.key() == "messages" || it.key() == "add_generation_prompt") {
            fail(ErrorCategory::kInvalidArgument, "chat template variables: '", it.key(),
                 "' is given by its own argument, not as an extra variable");
          }
          d.set(detail::Value(it.key()), detail::from_json(it.value()));
        }
      }
      variables = std::make_shared<const detail::DictData>(std::move(d));
    } catch (const detail::TemplateError& e) {
      throw Error(e.category, "chat messages: " + e.message);
    }
    std::string rendered = tpl.render_variables(std::move(variables), request.options);
    if (request.continue_final_message) rendered = cut_after_final_message(std::move(rendered), messages);
    return rendered;
  }

  // The names of the templates ("default", "tool_use", ...).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, tpl] : templates_) out.push_back(name);
    return out;
  }
  bool has(std::string_view name) const { return templates_.find(std::string(name)) != templates_.end(); }
  // The template text of a name (after jinja2's newline normalization).
  const std::string& source(std::string_view name = kDefaultName) const { return find(name).source(); }
  const SpecialTokens& special_tokens() const { return tokens_; }

 private:
  ChatTemplate() = default;

  static std::string read_text(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail(ErrorCategory::kIo, path.string(), ": not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorCategory::kIo, path.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    const size_t bad = utf8::find_invalid(s);
    if (bad != std::string::npos) {
      fail(ErrorCategory::kFormat, path.string(), ": not valid UTF-8 (ill-formed sequence at byte offset ", bad, ")");
    }
    return s;
  }

  // tokenizer_config.json's "chat_template": a string, or [{"name": ..., "template": ...}].
  void add_config_templates(const io::JsonView& value) {
    const std::string origin = value.origin() + ": " + value.path();
    if (value.is_string()) {
      templates_.insert_or_assign(kDefaultName, JinjaTemplate(value.as_string(), origin));
      return;
    }
    if (!value.is_array()) value.type_error("a string or a list of {\"name\", \"template\"} objects");
    for (size_t i = 0; i < value.size(); ++i) {
      const io::JsonView entry = value.at(i);
      const std::string name = entry.at("name").as_string();
      const io::JsonView text = entry.at("template");
      templates_.insert_or_assign(name, JinjaTemplate(text.as_string(), text.origin() + ": " + text.path()));
    }
  }

  const JinjaTemplate& find(std::string_view name) const {
    const auto it = templates_.find(std::string(name));
    if (it == templates_.end()) {
      std::string known;
      for (const auto& [n, t] : templates_) known += (known.empty() ? "" : ", ") + n;
      fail(ErrorCategory::kInvalidArgument, "no chat template named '", name, "' (the model has: ", known, ")");
    }
    return it->second;
  }

  // transformers' continue_final_message: keep the prompt up to the end of the last message's
  // text (its last text part), keeping the text's trailing spaces only where the template did.
  static std::string cut_after_final_message(std::string rendered, const nlohmann::ordered_json& messages) {
    if (messages.empty() || !messages.back().is_object() || !messages.back().contains("content")) {
      fail(ErrorCategory::kInvalidArgument, "continue_final_message is set but there is no final message with content");
    }
    const nlohmann::ordered_json& content = messages.back()["content"];
    std::string final_text;
    if (content.is_string()) {
      final_text = content.get<std::string>();
    } else if (content.is_array()) {
      bool found = false;
      for (auto it = content.rbegin(); it != content.rend() && !found; ++it) {
        if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
          final_text = (*it)["text"].get<std::string>();
          found = true;
        }
      }
      if (!found) {
        fail(ErrorCategory::kInvalidArgument, "continue_final_message is set but we could not find any text to continue in the final message!");
      }
    } else {
      fail(ErrorCategory::kInvalidArgument, "continue_final_message is set but the final message's content is ",
           content.type_name(), ", not text");
    }
    const std::string stripped = detail::py_strip(final_text, detail::StripSide::kBoth);
    const std::string left_stripped = detail::py_strip(final_text, detail::StripSide::kLeft);
    const size_t at = rendered.rfind(stripped);
    if (at == std::string::npos) {
      fail(ErrorCategory::kInvalidArgument,
           "continue_final_message is set but the final message does not appear in the chat after applying the chat "
           "template! This can happen if the chat template deletes portions of the final message.");
    }
    if (rendered.compare(at, left_stripped.size(), final_text) == 0 && left_stripped.size() == final_text.size()) {
      rendered.resize(at + left_stripped.size());
    } else {
      rendered.resize(at + stripped.size());
    }
    return rendered;
  }

  // transformers' get_chat_template.
  const JinjaTemplate& select(std::string_view name, bool has_tools) const {
    if (!name.empty()) return find(name);
    if (has_tools && has(kToolUseName)) return find(kToolUseName);
    if (has(kDefaultName)) return find(kDefaultName);
    std::string known;
    for (const auto& [n, t] : templates_) known += (known.empty() ? "" : ", ") + n;
    fail(ErrorCategory::kInvalidArgument, "the model has several chat templates and none named 'default' (", known,
         "): choose one by name");
  }

  std::map<std::string, JinjaTemplate> templates_;
  SpecialTokens tokens_;
};

}  // namespace genarm::chat
