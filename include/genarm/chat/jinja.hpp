// genarm::chat::JinjaTemplate — a Jinja2 template parsed once and rendered many times, the way
// Hugging Face transformers renders chat templates: jinja2's ImmutableSandboxedEnvironment with
// trim_blocks=True, lstrip_blocks=True, loop controls (break/continue) and the
// {% generation %} tag, HF's `tojson` filter and its raise_exception / strftime_now globals.
// Values follow Python: str/int/float/bool/None/list/tuple/dict, undefined as jinja2's default
// Undefined (prints as nothing, fails when used as a value), Python's operators, str methods
// and error texts. See detail/parser.hpp for the grammar and detail/builtins.hpp for the
// filters, tests and globals.
//
// Errors are genarm::Error whose message is "<origin>:<line>:<column>: <what>":
//   kFormat       a syntax error ("chat template:3:12: unknown tag 'foo'"), or an unknown
//                 filter or test met at render time;
//   kUnsupported  a valid construct genarm does not implement (include/import/extends,
//                 recursive loops, some filters, \N{...} escapes, integers beyond 64 bits);
//   kInvalidArgument  an error while rendering, as Python raises one — a template's
//                 raise_exception ("...: raise_exception: Conversation roles must alternate ..."),
//                 "UndefinedError: 'dict object' has no attribute 'x'", "TypeError: ...",
//                 or a RenderOptions limit.
//
// Ownership: a JinjaTemplate shares its immutable parsed form between copies.
// Thread-safety: render() is const and thread-safe: any number of threads may render one
// template concurrently.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "genarm/chat/detail/parser.hpp"
#include "genarm/chat/detail/renderer.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"

namespace genarm::chat {

class JinjaTemplate {
 public:
  // Parses `source`; `origin` names it in error messages (a file name, "chat template").
  explicit JinjaTemplate(std::string_view source, std::string origin = "chat template")
      : impl_(std::make_shared<Impl>()) {
    impl_->origin = std::move(origin);
    // Python strings are text: a template is refused, not misread, if it is not UTF-8.
    const size_t bad = utf8::find_invalid(source);
    if (bad != std::string_view::npos) {
      fail(ErrorCategory::kFormat, impl_->origin, ": not valid UTF-8 (ill-formed sequence at byte offset ", bad, ")");
    }
    impl_->source = detail::SourceText(source);
    translate_errors([&] {
      detail::Lexer lexer(impl_->source);
      detail::Parser parser(impl_->source, lexer.tokenize());
      impl_->body = parser.parse();
    });
  }

  // Renders with the variables of `context`, a JSON object (name -> value). Give an
  // nlohmann::ordered_json to keep key order, which `tojson` and dict iteration expose; a plain
  // nlohmann::json has its keys sorted.
  std::string render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const {
    if (!context.is_object() && !context.is_null()) {
      fail(ErrorCategory::kInvalidArgument, impl_->origin, ": the render context must be a JSON object, got ",
           context.type_name());
    }
    std::shared_ptr<const detail::DictData> variables;
    translate_errors([&] {
      detail::DictData d;
      if (context.is_object()) {
        for (auto it = context.begin(); it != context.end(); ++it) d.set(detail::Value(it.key()), detail::from_json(it.value()));
      }
      variables = std::make_shared<const detail::DictData>(std::move(d));
    });
    return render_variables(std::move(variables), options);
  }

  // The same with values already converted (ChatTemplate builds them without a JSON copy).
  std::string render_variables(std::shared_ptr<const detail::DictData> variables, const RenderOptions& options = {}) const {
    std::string out;
    translate_errors([&] {
      detail::Renderer renderer(impl_->source, options);
      out = renderer.render(impl_->body, std::move(variables));
    });
    return out;
  }

  const std::string& origin() const { return impl_->origin; }
  // The source after jinja2's newline normalization (one trailing newline dropped).
  const std::string& source() const { return impl_->source.text(); }

 private:
  struct Impl {
    std::string origin;
    detail::SourceText source;
    detail::Body body;
  };

  template <typename Fn>
  void translate_errors(Fn&& fn) const {
    try {
      fn();
    } catch (const detail::TemplateError& e) {
      throw Error(e.category, impl_->origin + (e.located ? ":" : ": ") + e.message);
    }
  }

  std::shared_ptr<Impl> impl_;
};

}  // namespace genarm::chat
