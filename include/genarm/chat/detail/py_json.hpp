// JSON in and out of template values.
//   from_json: nlohmann JSON (ordered or not) -> Value, the way Python's json.loads builds
//     objects (dicts keep the document's key order when given an nlohmann::ordered_json).
//   py_json_dumps: Python's json.dumps(value, ensure_ascii, indent, separators, sort_keys),
//     byte for byte — which is what Hugging Face's `tojson` filter returns (it replaces
//     jinja2's HTML-escaping one with json.dumps(ensure_ascii=False, ...)).
// Thread-safety: free functions without state, thread-safe.
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "genarm/chat/detail/value.hpp"
#include "genarm/core/utf8.hpp"

namespace genarm::chat::detail {

// JSON nested deeper than this is refused (Python's json recursion limit is about 1000).
inline constexpr int kMaxJsonDepth = 256;

template <typename BasicJson>
Value from_json(const BasicJson& j, int depth = 0) {
  if (depth > kMaxJsonDepth) {
    raise(ErrorCategory::kInvalidArgument, "JSON value nested deeper than ", kMaxJsonDepth, " levels");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));  // beyond 64-bit signed: a float (Python keeps an int)
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: {
      const auto& s = j.template get_ref<const std::string&>();
      // A json built in code may hold any bytes; Python strings are always text.
      return utf8::is_valid(s) ? Value(s) : Value(utf8::from_utf8_lossy(s));
    }
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      DictData d;
      d.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        d.set(Value(utf8::is_valid(key) ? key : utf8::from_utf8_lossy(key)), from_json(it.value(), depth + 1));
      }
      return Value::dict(std::move(d));
    }
    default: raise(ErrorCategory::kUnsupported, "binary JSON values are not supported in templates");
  }
}

struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;           // the indent unit when has_indent
  std::string item_separator;   // default ", " (or "," with an indent)
  std::string key_separator;    // default ": "
  bool sort_keys = false;
};

// Python's json string encoding: \" \\ \n \r \t \b \f, other controls as \u00XX and, with
// ensure_ascii, everything outside ASCII as \uXXXX (surrogate pairs above U+FFFF).
inline void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto u_escape = [&](uint32_t unit) {
    out += "\\u";
    for (int k = 3; k >= 0; --k) out.push_back(kHex[(unit >> (4 * k)) & 0xF]);
  };
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
            u_escape(c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const utf8::Decoded d = utf8::decode(s, i);
    if (ensure_ascii) {
      uint32_t cp = d.code_point;
      if (cp >= 0x10000) {
        cp -= 0x10000;
        u_escape(0xD800 + (cp >> 10));
        u_escape(0xDC00 + (cp & 0x3FF));
      } else {
        u_escape(cp);
      }
    } else {
      out.append(s.substr(i, d.length));
    }
    i += d.length;
  }
  out.push_back('"');
}

inline void json_dump_value(std::string& out, const Value& v, const JsonDumpOptions& o, int level);

inline void json_newline(std::string& out, const JsonDumpOptions& o, int level) {
  out.push_back('\n');
  for (int i = 0; i < level; ++i) out += o.indent;
  check_built_size(out.size(), "tojson text");  // a huge indent times the depth
}

// A dict key as Python's json module writes it: str as is; int, float, bool and None converted
// ("1", "1.5", "true", "null"); anything else is a TypeError.
inline std::string json_key(const Value& key) {
  switch (key.kind()) {
    case ValueKind::kString: return key.as_string();
    case ValueKind::kBool: return key.as_bool() ? "true" : "false";
    case ValueKind::kNone: return "null";
    case ValueKind::kInt: return std::to_string(key.as_int());
    case ValueKind::kFloat: {
      const double d = key.as_double();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
      return py_float_repr(d);
    }
    default:
      raise_type_error("TypeError: keys must be str, int, float, bool or None, not ", type_name(key));
  }
}

inline void json_dump_value(std::string& out, const Value& v, const JsonDumpOptions& o, int level) {
  if (level > kMaxJsonDepth) raise(ErrorCategory::kInvalidArgument, "tojson: value nested deeper than ", kMaxJsonDepth, " levels");
  switch (v.kind()) {
    case ValueKind::kNone: out += "null"; return;
    case ValueKind::kBool: out += v.as_bool() ? "true" : "false"; return;
    case ValueKind::kInt: out += std::to_string(v.as_int()); return;
    case ValueKind::kFloat: {
      const double d = v.as_double();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d < 0 ? "-Infinity" : "Infinity";
      } else {
        out += py_float_repr(d);
      }
      return;
    }
    case ValueKind::kString: append_json_string(out, v.as_string(), o.ensure_ascii); return;
    case ValueKind::kList:
    case ValueKind::kTuple: {
      const ValueList& items = v.as_list();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.has_indent) json_newline(out, o, level + 1);
        json_dump_value(out, items[i], o, level + 1);
      }
      if (o.has_indent) json_newline(out, o, level);
      out.push_back(']');
      return;
    }
    case ValueKind::kDict: {
      const DictData& d = v.as_dict();
      if (d.size() == 0) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<Value, Value>*> items;
      items.reserve(d.size());
      for (const auto& item : d.items) items.push_back(&item);
      if (o.sort_keys) {
        std::stable_sort(items.begin(), items.end(), [](const auto* a, const auto* b) {
          return less_than(a->first, b->first);
        });
      }
      out.push_back('{');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.has_indent) json_newline(out, o, level + 1);
        append_json_string(out, json_key(items[i]->first), o.ensure_ascii);
        out += o.key_separator;
        json_dump_value(out, items[i]->second, o, level + 1);
      }
      if (o.has_indent) json_newline(out, o, level);
      out.push_back('}');
      return;
    }
    default:
      raise_type_error("TypeError: Object of type ", type_name(v), " is not JSON serializable");
  }
}

inline std::string py_json_dumps(const Value& v, const JsonDumpOptions& o) {
  std::string out;
  json_dump_value(out, v, o, 0);
  return out;
}

}  // namespace genarm::chat::detail
