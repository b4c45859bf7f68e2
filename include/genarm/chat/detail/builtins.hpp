// jinja2's built-in filters, tests and globals, with Hugging Face's additions: the `tojson`
// filter (json.dumps with ensure_ascii=False and optional indent, separators, sort_keys), and
// the raise_exception(message) and strftime_now(format) globals.
// Semantics follow jinja2/filters.py, tests.py and defaults.py (ImmutableSandboxedEnvironment,
// autoescape off), down to what Python makes visible: map/select/unique/batch/items/... return
// lazy generators (always true, no len(), not JSON serializable, consumed once), reverse returns
// reverse iterators, range() a range, safe/escape a Markup. Filters jinja2 has that are left out
// (groupby, pprint, random, striptags, urlencode, urlize, wordwrap, xmlattr, filesizeformat) and
// the globals cycler and lipsum raise kUnsupported when a template runs them.
// Included by renderer.hpp (it defines find_filter/find_test/builtin_globals declared there).
// Thread-safety: the tables are built once, thread-safely, and only read.
#pragma once

#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <unordered_map>

#include "genarm/chat/detail/renderer.hpp"

namespace genarm::chat::detail {
namespace builtins {

inline std::string soft_str(const Value& v) { return py_str(v); }

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0, by the sandbox's getitem.
inline std::vector<Value> attribute_parts(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) return {attribute};
  for (const std::string& p : py_split(attribute.as_string(), ".")) {
    const bool digits = !p.empty() && p.find_first_not_of("0123456789") == std::string::npos;
    parts.push_back(digits ? Value(static_cast<int64_t>(std::stoll(p))) : Value(p));
  }
  return parts;
}

inline Value lookup_parts(Value item, const std::vector<Value>& parts, const Value* fallback = nullptr) {
  for (const Value& part : parts) {
    item = get_item(item, part);
    if (fallback && item.is_undefined()) item = *fallback;
  }
  return item;
}

inline Value ignore_case(const Value& v) { return v.is_string() ? Value(py_lower(v.as_string())) : v; }

// ---- string filters -------------------------------------------------------------------

// jinja2's soft_str: a str (Markup included) as it is, anything else through str().
inline Value soft_str_value(const Value& in) { return in.is_string() ? in : Value(py_str(in)); }

// A result of str methods on soft_str(input): Markup when the input was.
inline Value like_input(const Value& in, std::string s) {
  return in.is_markup() ? Value::markup(std::move(s)) : Value(std::move(s));
}

inline Value f_upper(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("upper", args);
  return like_input(in, py_upper(soft_str(in)));
}
inline Value f_lower(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("lower", args);
  return like_input(in, py_lower(soft_str(in)));
}
inline Value f_capitalize(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("capitalize", args);
  return like_input(in, py_capitalize(soft_str(in)));
}

// jinja2's title: each run of characters between "-", whitespace, "(", "{", "[" or "<" gets its
// first character uppercased and the rest lowercased (unlike str.title()).
inline Value f_title(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("title", args);
  const std::vector<char32_t> cps = to_code_points(soft_str(in));
  std::string out;
  bool word_start = true;
  for (const char32_t c : cps) {
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
    if (separator) {
      utf8::append(out, c);
      word_start = true;
    } else if (word_start) {
      append_upper(out, c);
      word_start = false;
    } else {
      append_lower(out, c);
    }
  }
  return Value(std::move(out));
}

inline Value f_trim(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("trim", args, {"chars"});
  const std::optional<std::string> chars = a.get_string(0);
  return like_input(in, py_strip(soft_str(in), StripSide::kBoth, chars ? &*chars : nullptr));
}

inline Value f_replace(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("replace", args, {"old", "new", "count"});
  return Value(py_replace(py_str(in), py_str(a.required(0)), py_str(a.required(1)), a.get_int(2, -1)));
}

inline Value f_indent(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("indent", args, {"width", "first", "blank"});
  const Value width = a.get(0, Value(int64_t{4}));
  std::string indention;
  if (width.is_string()) {
    indention = width.as_string();
  } else if (width.is_integral()) {
    check_built_size(static_cast<size_t>(std::max<int64_t>(0, width.as_int())), "indentation");
    indention = std::string(static_cast<size_t>(std::max<int64_t>(0, width.as_int())), ' ');
  } else {
    raise_type_error("TypeError: can't multiply sequence by non-int of type '", type_name(width), "'");
  }
  if (in.is_undefined()) in.fail_undefined();
  if (!in.is_string()) raise_type_error("TypeError: unsupported operand type(s) for +=: '", type_name(in), "' and 'str'");
  const std::vector<std::string> lines = py_splitlines(in.as_string() + "\n");
  std::string rv;
  if (a.get_bool(2, false)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
      check_built_size(rv.size(), "indented text");
    }
  } else {
    rv = lines.empty() ? std::string() : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
      check_built_size(rv.size(), "indented text");
    }
  }
  if (a.get_bool(1, false)) rv = indention + rv;
  return like_input(in, std::move(rv));
}

inline Value f_center(Renderer& r, const Value& in, CallArgs& args) {
  ArgParser a("center", args, {"width"});
  const int64_t width = a.get_int(0, 80);
  CallArgs inner;
  inner.positional.push_back(Value(width));
  const Value s = soft_str_value(in);
  return get_attr(s, "center").as_callable().fn(r, inner);
}

inline Value f_truncate(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("truncate", args, {"length", "killwords", "end", "leeway"});
  const int64_t length = a.get_int(0, 255);
  const bool killwords = a.get_bool(1, false);
  const std::string end = a.has(2) ? py_str(a.get(2)) : "...";
  const int64_t leeway = a.get_int(3, 5);
  const int64_t end_len = static_cast<int64_t>(code_point_count(end));
  if (length < end_len) raise(ErrorCategory::kInvalidArgument, "AssertionError: expected length >= ", end_len, ", got ", length);
  if (leeway < 0) raise(ErrorCategory::kInvalidArgument, "AssertionError: expected leeway >= 0, got ", leeway);
  if (!in.is_string()) {
    // A list (or anything with a len()) short enough comes back as it is; a longer one would
    // be sliced and joined with a str, which Python refuses.
    if (py_len(in) <= length + leeway) return in;
    raise_type_error("TypeError: can only concatenate ", type_name(in), " (not \"str\") to ", type_name(in));
  }
  const std::string s = soft_str(in);
  const std::vector<char32_t> cps = to_code_points(s);
  if (static_cast<int64_t>(cps.size()) <= length + leeway) return Value(s);
  std::string head = from_code_points(cps, 0, static_cast<size_t>(length - end_len));
  if (!killwords) {
    const size_t space = head.rfind(' ');
    if (space != std::string::npos) head = head.substr(0, space);
  }
  return Value(head + end);
}

inline Value f_wordcount(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("wordcount", args);
  int64_t n = 0;
  bool in_word = false;
  for (const char32_t c : to_code_points(soft_str(in))) {
    const bool word = py_is_alnum(c) || c == '_';
    if (word && !in_word) ++n;
    in_word = word;
  }
  return Value(n);
}

// escape: Markup stays as it is, anything else is escaped into Markup.
inline Value f_escape(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("escape", args);
  if (in.is_markup()) return in;
  return Value::markup(markup_escape(soft_str(in)));
}

inline Value f_forceescape(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("forceescape", args);
  return Value::markup(markup_escape(soft_str(in)));
}

inline Value f_safe(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("safe", args);
  return Value::markup(soft_str(in));
}

inline Value f_string(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("string", args);
  return soft_str_value(in);
}

inline Value f_format(Renderer&, const Value& in, CallArgs& args) {
  if (!args.positional.empty() && !args.named.empty()) {
    raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: can't handle positional and keyword arguments at the same time");
  }
  if (!args.named.empty()) {
    DictData d;
    for (auto& [k, v] : args.named) d.set(Value(k), v);
    return percent_format(soft_str_value(in), Value::dict(std::move(d)));
  }
  return percent_format(soft_str_value(in), Value::tuple(args.positional));
}

// ---- Hugging Face's tojson ---------------------------------------------------------------

inline Value f_tojson(Renderer&, const Value& in, CallArgs& args) {
  // Python signature tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
  // a positional argument is ensure_ascii, as in Hugging Face's function.
  ArgParser a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = a.get_bool(0, false);
  const Value indent = a.get(1, Value::none());
  if (!indent.is_none()) {
    o.has_indent = true;
    if (indent.is_string()) {
      o.indent = indent.as_string();
    } else if (indent.is_integral()) {
      check_built_size(static_cast<size_t>(std::max<int64_t>(0, indent.as_int())), "tojson indent");
      o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent.as_int())), ' ');
    } else {
      raise_type_error("TypeError: can't multiply sequence by non-int of type '", type_name(indent), "'");
    }
  }
  o.item_separator = o.has_indent ? "," : ", ";
  o.key_separator = ": ";
  const Value separators = a.get(2, Value::none());
  if (!separators.is_none()) {
    if (!separators.is_sequence() || separators.as_list().size() != 2 || !separators.as_list()[0].is_string() ||
        !separators.as_list()[1].is_string()) {
      raise_type_error("TypeError: tojson: separators must be a pair of strings");
    }
    o.item_separator = separators.as_list()[0].as_string();
    o.key_separator = separators.as_list()[1].as_string();
  }
  o.sort_keys = a.get_bool(3, false);
  return Value(py_json_dumps(in, o));
}

// ---- sequences --------------------------------------------------------------------------

inline Value f_length(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("length", args);
  return Value(py_len(in));
}

inline Value f_list(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("list", args);
  return Value::list(iterate(in));
}

inline Value f_first(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("first", args);
  if (in.is_string()) {
    if (in.as_string().empty()) return Value::undefined("No first item, sequence was empty.");
    return Value(utf8::encode(utf8::decode(in.as_string(), 0).code_point));
  }
  if (in.is_iterator() && in.as_iterator().one_shot()) {  // next() takes one item
    IteratorData& it = in.as_iterator();
    it.materialize();
    if (it.position >= it.items.size()) return Value::undefined("No first item, sequence was empty.");
    return it.items[it.position++];
  }
  const ValueList items = iterate(in);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

inline Value f_last(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("last", args);
  // reversed(): sequences, dicts, views and ranges; not generators or scalars.
  const bool reversible = in.is_undefined() || in.is_string() || in.is_sequence() || in.is_dict() ||
                          (in.is_iterator() && !in.as_iterator().one_shot());
  if (!reversible) raise_type_error("TypeError: '", type_name(in), "' object is not reversible");
  if (in.is_string()) {
    if (in.as_string().empty()) return Value::undefined("No last item, sequence was empty.");
    return like_input(in, from_code_points(to_code_points(in.as_string()), code_point_count(in.as_string()) - 1));
  }
  const ValueList items = iterate(in);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

inline Value f_reverse(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("reverse", args);
  if (in.is_string()) {
    std::vector<char32_t> cps = to_code_points(in.as_string());
    std::reverse(cps.begin(), cps.end());
    return like_input(in, from_code_points(cps));
  }
  // reversed(value) where Python has it (an iterator), else list(value) reversed.
  std::string type;
  switch (in.kind()) {
    case ValueKind::kList: type = "list_reverseiterator"; break;
    case ValueKind::kTuple:
    case ValueKind::kUndefined: type = "reversed"; break;
    case ValueKind::kDict: type = "dict_reversekeyiterator"; break;
    case ValueKind::kIterator:
      switch (in.as_iterator().kind) {
        case IteratorData::Kind::kRange: type = "range_iterator"; break;
        case IteratorData::Kind::kDictItems: type = "dict_reverseitemiterator"; break;
        case IteratorData::Kind::kDictKeys: type = "dict_reversekeyiterator"; break;
        case IteratorData::Kind::kDictValues: type = "dict_reversevalueiterator"; break;
        default: break;
      }
      break;
    default: break;
  }
  if (!is_iterable(in)) raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: argument must be iterable");
  ValueList items = iterate(in);
  std::reverse(items.begin(), items.end());
  if (type.empty()) return Value::list(std::move(items));
  return make_iterator(IteratorData::Kind::kReverseIterator, type, std::move(items));
}

inline Value f_join(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("join", args, {"d", "attribute"});
  const std::string sep = a.has(0) ? py_str(a.get(0)) : "";
  const std::vector<Value> parts = attribute_parts(a.get(1, Value::none()));
  std::string out;
  bool first = true;
  for (const Value& item : iterate(in)) {
    if (!first) out += sep;
    first = false;
    append_str(out, parts.empty() ? item : lookup_parts(item, parts));
    check_built_size(out.size(), "joined string");
  }
  return Value(std::move(out));
}

inline Value f_default(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("default", args, {"default_value", "boolean"});
  if (in.is_undefined() || (a.get_bool(1, false) && !truthy(in))) return a.get(0, Value(""));
  return in;
}

// The filters jinja2 writes as generators (items, unique, batch, slice, map, select, reject,
// selectattr, rejectattr) compute their items, and raise their errors, when first iterated.
inline Value f_items(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("items", args);
  return make_lazy_generator([in] {
      if (in.is_undefined()) return ValueList{};
      if (!in.is_dict()) raise_type_error("TypeError: Can only get item pairs from a mapping.");
      ValueList out;
      for (const auto& [k, v] : in.as_dict().items) out.push_back(Value::tuple({k, v}));
      return out;
  });
}

inline Value f_dictsort(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("dictsort", args, {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = a.get_bool(0, false);
  const std::string by = a.has(1) ? py_str(a.get(1)) : "key";
  if (by != "key" && by != "value") {
    raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
  }
  if (in.is_undefined()) in.fail_undefined();
  if (!in.is_dict()) raise_type_error("AttributeError: '", type_name(in), "' object has no attribute 'items'");
  std::vector<std::pair<Value, Value>> items = in.as_dict().items;
  const size_t pos = by == "key" ? 0 : 1;
  const bool reverse = a.get_bool(2, false);
  std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
    Value kx = pos == 0 ? x.first : x.second;
    Value ky = pos == 0 ? y.first : y.second;
    if (!case_sensitive) {
      kx = ignore_case(kx);
      ky = ignore_case(ky);
    }
    return reverse ? less_than(ky, kx) : less_than(kx, ky);
  });
  ValueList out;
  for (auto& [k, v] : items) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}

// The sort key of jinja2's sort filter: attribute "a,b" gives a list of keys.
inline Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    ValueList keys;
    for (const std::string& one : py_split(attribute.as_string(), ",")) {
      Value k = lookup_parts(item, attribute_parts(Value(one)));
      keys.push_back(case_sensitive ? k : ignore_case(k));
    }
    return Value::list(std::move(keys));
  }
  Value k = lookup_parts(item, attribute_parts(attribute));
  return case_sensitive ? k : ignore_case(k);
}

inline Value f_sort(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = a.get_bool(0, false);
  const bool case_sensitive = a.get_bool(1, false);
  const Value attribute = a.get(2, Value::none());
  ValueList items = iterate(in);
  std::vector<std::pair<Value, size_t>> keyed;
  keyed.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) keyed.emplace_back(sort_key(items[i], attribute, case_sensitive), i);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  ValueList out;
  out.reserve(items.size());
  for (const auto& [key, i] : keyed) out.push_back(items[i]);
  return Value::list(std::move(out));
}

inline Value f_unique(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_bool(0, false);
  const std::vector<Value> parts = attribute_parts(a.get(1, Value::none()));
  return make_lazy_generator([in, case_sensitive, parts] {
    ValueList seen;
    ValueList out;
    for (const Value& item : iterate(in)) {
      Value key = parts.empty() ? item : lookup_parts(item, parts);
      if (!case_sensitive) key = ignore_case(key);
      if (!is_hashable(key)) raise_type_error("TypeError: unhashable type: '", type_name(key), "'");
      bool found = false;
      for (const Value& s : seen) {
        if (equals(s, key)) {
          found = true;
          break;
        }
      }
      if (!found) {
        seen.push_back(key);
        out.push_back(item);
      }
    }
    return out;
  });
}

inline Value min_or_max(const Value& in, CallArgs& args, bool want_max) {
  ArgParser a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_bool(0, false);
  const std::vector<Value> parts = attribute_parts(a.get(1, Value::none()));
  const ValueList items = iterate(in);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const auto key = [&](const Value& item) {
    Value k = parts.empty() ? item : lookup_parts(item, parts);
    return case_sensitive ? k : ignore_case(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    // Python's max() asks key > best, min() key < best (which shows in TypeError messages).
    if (ordered(k, best_key, want_max ? Order::kGt : Order::kLt)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}
inline Value f_min(Renderer&, const Value& in, CallArgs& args) { return min_or_max(in, args, false); }
inline Value f_max(Renderer&, const Value& in, CallArgs& args) { return min_or_max(in, args, true); }

inline Value f_sum(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("sum", args, {"attribute", "start"});
  const std::vector<Value> parts = attribute_parts(a.get(0, Value::none()));
  Value total = a.get(1, Value(int64_t{0}));
  for (const Value& item : iterate(in)) {
    total = binary_arith('+', "+", total, parts.empty() ? item : lookup_parts(item, parts));
  }
  return total;
}

inline Value f_batch(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("batch", args, {"linecount", "fill_with"});
  const int64_t linecount = a.get_int(0, 0);
  if (!a.has(0)) a.required(0);
  if (linecount <= 0) raise(ErrorCategory::kInvalidArgument, "ValueError: batch: linecount must be positive");
  const Value fill = a.get(1, Value::none());
  return make_lazy_generator([in, linecount, fill] {
    ValueList out;
    ValueList current;
    for (const Value& item : iterate(in)) {
      if (static_cast<int64_t>(current.size()) == linecount) {
        out.push_back(Value::list(std::move(current)));
        current.clear();
      }
      current.push_back(item);
    }
    if (!current.empty()) {
      if (!fill.is_none()) {
        while (static_cast<int64_t>(current.size()) < linecount) current.push_back(fill);
      }
      out.push_back(Value::list(std::move(current)));
    }
    return out;
  });
}

inline Value f_slice(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("slice", args, {"slices", "fill_with"});
  a.required(0);
  const int64_t slices = a.get_int(0, 1);
  if (slices <= 0) raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: integer division or modulo by zero");
  check_built_size(static_cast<size_t>(slices), "slice");
  const Value fill = a.get(1, Value::none());
  return make_lazy_generator([in, slices, fill] {
    const ValueList seq = iterate(in);
    const int64_t length = static_cast<int64_t>(seq.size());
    const int64_t per = length / slices;
    const int64_t extra = length % slices;
    int64_t offset = 0;
    ValueList out;
    for (int64_t n = 0; n < slices; ++n) {
      const int64_t start = offset + n * per;
      if (n < extra) ++offset;
      const int64_t end = offset + (n + 1) * per;
      ValueList part(seq.begin() + start, seq.begin() + end);
      if (!fill.is_none() && n >= extra) part.push_back(fill);
      out.push_back(Value::list(std::move(part)));
    }
    return out;
  });
}

inline Value f_map(Renderer& r, const Value& in, CallArgs& call_args) {
  return make_lazy_generator([&r, in, args = call_args]() mutable {
    ValueList out;
    if (!truthy(in)) return out;
    if (args.positional.empty()) {
      Value attribute;
      Value fallback = Value::none();
      bool has_attribute = false;
      for (auto& [k, v] : args.named) {
        if (k == "attribute") {
          attribute = v;
          has_attribute = true;
        } else if (k == "default") {
          fallback = v;
        } else {
          raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: Unexpected keyword argument '", k, "'");
        }
      }
      if (!has_attribute) raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: map requires a filter argument");
      const std::vector<Value> parts = attribute_parts(attribute);
      for (const Value& item : iterate(in)) {
        out.push_back(lookup_parts(item, parts, fallback.is_none() ? nullptr : &fallback));
      }
      return out;
    }
    const Value name = args.positional[0];
    if (!name.is_string()) raise_type_error("TypeError: map: the filter name must be a string");
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.named = args.named;
    for (const Value& item : iterate(in)) {
      CallArgs each = rest;
      out.push_back(r.apply_filter(name.as_string(), item, each));
    }
    return out;
  });
}

inline Value select_or_reject(Renderer& r, const Value& in, CallArgs& call_args, bool select, bool by_attribute) {
  return make_lazy_generator([&r, in, args = call_args, select, by_attribute]() mutable {
    ValueList out;
    if (!truthy(in)) return out;
    size_t off = 0;
    std::vector<Value> parts;
    if (by_attribute) {
      if (args.positional.empty()) raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: Missing parameter for attribute name");
      parts = attribute_parts(args.positional[0]);
      off = 1;
    }
    std::optional<std::string> test;
    CallArgs rest;
    if (args.positional.size() > off) {
      if (!args.positional[off].is_string()) raise_type_error("TypeError: the test name must be a string");
      test = args.positional[off].as_string();
      rest.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), args.positional.end());
    }
    rest.named = args.named;
    for (const Value& item : iterate(in)) {
      const Value probe = by_attribute ? lookup_parts(item, parts) : item;
      bool ok;
      if (test) {
        CallArgs each = rest;
        ok = r.apply_test(*test, probe, each);
      } else {
        ok = truthy(probe);
      }
      if (ok == select) out.push_back(item);
    }
    return out;
  });
}
inline Value f_select(Renderer& r, const Value& in, CallArgs& a) { return select_or_reject(r, in, a, true, false); }
inline Value f_reject(Renderer& r, const Value& in, CallArgs& a) { return select_or_reject(r, in, a, false, false); }
inline Value f_selectattr(Renderer& r, const Value& in, CallArgs& a) { return select_or_reject(r, in, a, true, true); }
inline Value f_rejectattr(Renderer& r, const Value& in, CallArgs& a) { return select_or_reject(r, in, a, false, true); }

inline Value f_attr(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("attr", args, {"name"});
  const Value name = a.required(0);
  if (!name.is_string()) raise_type_error("TypeError: attribute name must be string, not '", type_name(name), "'");
  // Attributes only: a dict's keys are not attributes (its methods are).
  if (in.is_dict()) {
    Value m = dict_method(in, name.as_string());
    if (!m.is_undefined() || m.undefined_info()) return m;
    return missing_attribute(in, name.as_string());
  }
  return get_attr(in, name.as_string());
}

// ---- numbers ----------------------------------------------------------------------------

// Python's int(text, base): surrounding whitespace, a sign, an optional 0x/0o/0b prefix
// matching the base (any with base 0), digits with single underscores between them.
inline bool parse_py_int(const std::string& text, int64_t base, int64_t& out) {
  const std::string s = py_strip(text, StripSide::kBoth);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    const char p = static_cast<char>(s[i + 1] | 0x20);
    const int64_t prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base && (base == 0 || base == prefix_base)) {
      base = prefix_base;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) {
    base = 10;
    // Base 0 refuses leading zeros in a non-zero decimal.
    if (i + 1 < s.size() && s[i] == '0' && s.find_first_not_of("0_", i) != std::string::npos) return false;
  }
  if (base < 2 || base > 36) return false;
  if (i >= s.size()) return false;
  uint64_t value = 0;
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1;
  bool last_underscore = true;  // no leading underscore
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (last_underscore) return false;
      last_underscore = true;
      continue;
    }
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') digit = (c | 0x20) - 'a' + 10;
    if (digit < 0 || digit >= base) return false;
    if (__builtin_mul_overflow(value, static_cast<uint64_t>(base), &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(digit), &value) || value > kLimit) {
      fail_overflow("int()");
    }
    last_underscore = false;
  }
  if (last_underscore) return false;
  if (!negative && value == kLimit) fail_overflow("int()");
  out = negative ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
  return true;
}

// Python's float(text): whitespace, a sign, then digits (with underscores) and an optional
// fraction and exponent, or inf / infinity / nan in any case.
inline bool parse_py_float(const std::string& text, double& out) {
  std::string s = py_strip(text, StripSide::kBoth);
  std::string lower = py_lower(s);
  size_t i = 0;
  if (i < lower.size() && (lower[i] == '+' || lower[i] == '-')) ++i;
  const std::string rest = lower.substr(i);
  if (rest == "inf" || rest == "infinity" || rest == "nan") {
    out = std::strtod(lower.c_str(), nullptr);
    return true;
  }
  std::string cleaned = s.substr(0, i);
  bool digits = false;
  bool last_underscore = false;
  bool seen_dot = false, seen_exp = false;
  for (size_t k = i; k < s.size(); ++k) {
    const char c = s[k];
    if (c >= '0' && c <= '9') {
      digits = true;
      last_underscore = false;
      cleaned.push_back(c);
    } else if (c == '_') {
      if (!digits || last_underscore || k + 1 >= s.size() || !(s[k + 1] >= '0' && s[k + 1] <= '9')) return false;
      last_underscore = true;
    } else if (c == '.' && !seen_dot && !seen_exp) {
      seen_dot = true;
      cleaned.push_back(c);
    } else if ((c == 'e' || c == 'E') && digits && !seen_exp) {
      seen_exp = true;
      digits = false;
      cleaned.push_back(c);
      if (k + 1 < s.size() && (s[k + 1] == '+' || s[k + 1] == '-')) cleaned.push_back(s[++k]);
    } else {
      return false;
    }
  }
  if (!digits) return false;
  out = std::strtod(cleaned.c_str(), nullptr);
  return true;
}

inline Value f_int(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("int", args, {"default", "base"});
  const Value fallback = a.get(0, Value(int64_t{0}));
  const int64_t base = a.get_int(1, 10);
  if (in.is_undefined()) in.fail_undefined();
  if (in.is_integral()) return Value(in.as_int());
  if (in.is_float()) {
    const double d = in.as_double();
    if (std::isnan(d)) return fallback;
    if (std::isinf(d)) raise(ErrorCategory::kInvalidArgument, "OverflowError: cannot convert float infinity to integer");
    if (std::fabs(d) >= 9.2e18) fail_overflow("int()");
    return Value(static_cast<int64_t>(std::trunc(d)));
  }
  if (in.is_string()) {
    int64_t v = 0;
    if (parse_py_int(in.as_string(), base, v)) return Value(v);
    double d = 0;
    if (parse_py_float(in.as_string(), d)) {
      if (std::isnan(d)) return fallback;
      if (std::isinf(d)) raise(ErrorCategory::kInvalidArgument, "OverflowError: cannot convert float infinity to integer");
      if (std::fabs(d) >= 9.2e18) fail_overflow("int()");
      return Value(static_cast<int64_t>(std::trunc(d)));
    }
  }
  return fallback;
}

inline Value f_float(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("float", args, {"default"});
  if (in.is_undefined()) in.fail_undefined();
  if (in.is_number()) return Value(in.as_double());
  if (in.is_string()) {
    double d = 0;
    if (parse_py_float(in.as_string(), d)) return Value(d);
  }
  return a.get(0, Value(0.0));
}

inline Value f_abs(Renderer&, const Value& in, CallArgs& args) {
  expect_no_args("abs", args);
  if (in.is_float()) return Value(std::fabs(in.as_double()));
  if (in.is_integral()) {
    if (in.as_int() == std::numeric_limits<int64_t>::min()) fail_overflow("abs");
    return Value(in.as_int() < 0 ? -in.as_int() : in.as_int());
  }
  if (in.is_undefined()) in.fail_undefined();
  raise_type_error("TypeError: bad operand type for abs(): '", type_name(in), "'");
}

// Python's round(x, ndigits): correctly rounded, ties to even.
inline double py_round(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits > 22) return x;
  if (ndigits >= 0) {
    char buf[400];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  if (ndigits < -308) return std::copysign(0.0, x);
  const double p = std::pow(10.0, static_cast<double>(-ndigits));
  return std::nearbyint(x / p) * p;
}

inline Value f_round(Renderer&, const Value& in, CallArgs& args) {
  ArgParser a("round", args, {"precision", "method"});
  const int64_t precision = a.get_int(0, 0);
  const std::string method = a.has(1) ? py_str(a.get(1)) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    raise(ErrorCategory::kInvalidArgument, "FilterArgumentError: method must be common, ceil or floor");
  }
  if (!in.is_number()) raise_type_error("TypeError: type ", type_name(in), " doesn't define __round__ method");
  if (method == "common") {
    if (in.is_integral()) {
      if (precision >= 0) return Value(in.as_int());
      return Value(static_cast<int64_t>(py_round(static_cast<double>(in.as_int()), precision)));
    }
    return Value(py_round(in.as_double(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = in.as_double() * scale;
  return Value((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

// ---- tests ------------------------------------------------------------------------------

inline Value test_arg(std::string_view name, CallArgs& args) {
  if (args.positional.size() != 1 || !args.named.empty()) {
    raise_type_error("TypeError: the '", name, "' test takes one argument");
  }
  return args.positional[0];
}

inline bool t_defined(Renderer&, const Value& v, CallArgs&) { return !v.is_undefined(); }
inline bool t_undefined(Renderer&, const Value& v, CallArgs&) { return v.is_undefined(); }
inline bool t_none(Renderer&, const Value& v, CallArgs&) { return v.is_none(); }
inline bool t_boolean(Renderer&, const Value& v, CallArgs&) { return v.is_bool(); }
inline bool t_true(Renderer&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
inline bool t_false(Renderer&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
inline bool t_integer(Renderer&, const Value& v, CallArgs&) { return v.is_int(); }
inline bool t_float(Renderer&, const Value& v, CallArgs&) { return v.is_float(); }
inline bool t_number(Renderer&, const Value& v, CallArgs&) { return v.is_number(); }
inline bool t_string(Renderer&, const Value& v, CallArgs&) { return v.is_string(); }
inline bool t_mapping(Renderer&, const Value& v, CallArgs&) { return v.is_dict(); }
inline bool t_iterable(Renderer&, const Value& v, CallArgs&) { return is_iterable(v); }
inline bool t_sequence(Renderer&, const Value& v, CallArgs&) {
  if (v.is_iterator()) return v.as_iterator().kind == IteratorData::Kind::kRange;
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}
inline bool t_callable(Renderer&, const Value& v, CallArgs&) { return v.is_callable() || v.is_undefined(); }
inline bool t_escaped(Renderer&, const Value& v, CallArgs&) { return v.is_markup(); }
inline bool t_lower(Renderer& r, const Value& v, CallArgs&) {
  CallArgs none;
  return truthy(get_attr(Value(py_str(v)), "islower").as_callable().fn(r, none));
}
inline bool t_upper(Renderer& r, const Value& v, CallArgs&) {
  CallArgs none;
  return truthy(get_attr(Value(py_str(v)), "isupper").as_callable().fn(r, none));
}
inline bool t_odd(Renderer&, const Value& v, CallArgs&) {
  return equals(binary_arith('%', "%", v, Value(int64_t{2})), Value(int64_t{1}));
}
inline bool t_even(Renderer&, const Value& v, CallArgs&) {
  return equals(binary_arith('%', "%", v, Value(int64_t{2})), Value(int64_t{0}));
}
inline bool t_divisibleby(Renderer&, const Value& v, CallArgs& args) {
  return equals(binary_arith('%', "%", v, test_arg("divisibleby", args)), Value(int64_t{0}));
}
inline bool t_eq(Renderer&, const Value& v, CallArgs& args) { return equals(v, test_arg("eq", args)); }
inline bool t_ne(Renderer&, const Value& v, CallArgs& args) { return !equals(v, test_arg("ne", args)); }
inline bool t_lt(Renderer&, const Value& v, CallArgs& args) { return ordered(v, test_arg("lt", args), Order::kLt); }
inline bool t_le(Renderer&, const Value& v, CallArgs& args) { return ordered(v, test_arg("le", args), Order::kLe); }
inline bool t_gt(Renderer&, const Value& v, CallArgs& args) { return ordered(v, test_arg("gt", args), Order::kGt); }
inline bool t_ge(Renderer&, const Value& v, CallArgs& args) { return ordered(v, test_arg("ge", args), Order::kGe); }
inline bool t_in(Renderer&, const Value& v, CallArgs& args) { return contains(test_arg("in", args), v); }
inline bool t_sameas(Renderer&, const Value& v, CallArgs& args) {
  const Value other = test_arg("sameas", args);
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case ValueKind::kUndefined: return v.identity() == other.identity();
    case ValueKind::kNone: return true;
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat: return equals(v, other);  // small values are shared objects in CPython
    default: return v.identity() == other.identity();
  }
}
inline bool t_filter(Renderer&, const Value& v, CallArgs&) { return v.is_string() && find_filter(v.as_string()) != nullptr; }
inline bool t_test(Renderer&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.as_string()) != nullptr; }

// ---- globals ----------------------------------------------------------------------------

// The sandbox's range(): at most 100000 items.
inline constexpr int64_t kMaxRange = 100000;

inline Value g_range(Renderer& r, CallArgs& args) {
  if (!args.named.empty()) raise_type_error("TypeError: range() takes no keyword arguments");
  const size_t n = args.positional.size();
  if (n < 1 || n > 3) raise_type_error("TypeError: range expected at most 3 arguments, got ", n);
  for (const Value& v : args.positional) {
    if (v.is_undefined()) v.fail_undefined();
    if (!v.is_integral()) raise_type_error("TypeError: '", type_name(v), "' object cannot be interpreted as an integer");
  }
  int64_t start = 0, stop = 0, step = 1;
  if (n == 1) {
    stop = args.positional[0].as_int();
  } else {
    start = args.positional[0].as_int();
    stop = args.positional[1].as_int();
    if (n == 3) step = args.positional[2].as_int();
  }
  if (step == 0) raise(ErrorCategory::kInvalidArgument, "ValueError: range() arg 3 must not be zero");
  // The length in unsigned arithmetic: the distance between two int64 always fits.
  uint64_t count = 0;
  if (step > 0 && stop > start) {
    count = (static_cast<uint64_t>(stop) - static_cast<uint64_t>(start) - 1) / static_cast<uint64_t>(step) + 1;
  }
  if (step < 0 && stop < start) {
    count = (static_cast<uint64_t>(start) - static_cast<uint64_t>(stop) - 1) / (0 - static_cast<uint64_t>(step)) + 1;
  }
  if (count > static_cast<uint64_t>(kMaxRange)) {
    raise(ErrorCategory::kInvalidArgument, "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (",
          kMaxRange, ").");
  }
  r.count_iterations(count);
  auto range = std::make_shared<IteratorData>();
  range->kind = IteratorData::Kind::kRange;
  range->type = "range";
  range->start = start;
  range->stop = stop;
  range->step = step;
  range->items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) range->items.emplace_back(start + i * step);
  return Value::iterator(std::move(range));
}

// dict(mapping or pairs, **kwargs) and namespace(...) take the same arguments.
inline DictData dict_from_args(std::string_view name, CallArgs& args) {
  if (args.positional.size() > 1) raise_type_error("TypeError: ", name, " expected at most 1 argument, got ", args.positional.size());
  DictData d;
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      d = src.as_dict();
    } else if (src.is_namespace()) {
      d = src.as_namespace().attrs;
    } else {
      for (const Value& pair : iterate(src)) {
        const ValueList kv = iterate(pair);
        if (kv.size() != 2) {
          raise(ErrorCategory::kInvalidArgument, "ValueError: dictionary update sequence element has length ", kv.size(), "; 2 is required");
        }
        if (!is_hashable(kv[0])) raise_type_error("TypeError: unhashable type: '", type_name(kv[0]), "'");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.named) d.set(Value(k), v);
  return d;
}

inline Value g_dict(Renderer&, CallArgs& args) { return Value::dict(dict_from_args("dict", args)); }

inline Value g_namespace(Renderer& r, CallArgs& args) {
  auto ns = std::make_shared<NamespaceData>();
  ns->attrs = dict_from_args("namespace", args);
  r.track_namespace(ns);
  return Value::namespace_(std::move(ns));
}

inline Value g_raise_exception(Renderer&, CallArgs& args) {
  ArgParser a("raise_exception", args, {"message"});
  raise(ErrorCategory::kInvalidArgument, "raise_exception: ", py_str(a.required(0)));
}

inline Value g_strftime_now(Renderer& r, CallArgs& args) {
  ArgParser a("strftime_now", args, {"format"});
  const Value format = a.required(0);
  if (!format.is_string()) raise_type_error("TypeError: strftime() argument 1 must be str, not ", type_name(format));
  std::tm tm{};
  if (r.options().now) {
    tm = *r.options().now;
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  if (format.as_string().empty()) return Value("");
  std::string buf(format.as_string().size() * 8 + 64, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), format.as_string().c_str(), &tm);
  if (n == 0) raise(ErrorCategory::kInvalidArgument, "ValueError: strftime_now: the formatted date is too long or empty");
  buf.resize(n);
  return Value(std::move(buf));
}

inline Value g_joiner(Renderer&, CallArgs& args) {
  ArgParser a("joiner", args, {"sep"});
  const std::string sep = a.has(0) ? py_str(a.get(0)) : ", ";
  auto used = std::make_shared<bool>(false);
  return bound_method("joiner", [sep, used](CallArgs& call_args) {
    expect_no_args("joiner", call_args);
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

inline Value unsupported_global(std::string name) {
  return bound_method(name, [name](CallArgs&) -> Value {
    raise(ErrorCategory::kUnsupported, "the global '", name, "' is not supported");
  });
}

inline Value global(std::string name, Value (*fn)(Renderer&, CallArgs&)) {
  auto data = std::make_shared<CallableData>();
  data->name = std::move(name);
  data->fn = fn;
  return Value::callable(std::move(data));
}

}  // namespace builtins

inline FilterFn find_filter(const std::string& name) {
  using namespace builtins;
  static const std::unordered_map<std::string, FilterFn> kFilters = {
      {"abs", f_abs},         {"attr", f_attr},           {"batch", f_batch},       {"capitalize", f_capitalize},
      {"center", f_center},   {"count", f_length},        {"d", f_default},         {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},     {"forceescape", f_forceescape},
      {"first", f_first},     {"float", f_float},         {"format", f_format},     {"indent", f_indent},
      {"int", f_int},         {"items", f_items},         {"join", f_join},         {"last", f_last},
      {"length", f_length},   {"list", f_list},           {"lower", f_lower},       {"map", f_map},
      {"max", f_max},         {"min", f_min},             {"reject", f_reject},     {"rejectattr", f_rejectattr},
      {"replace", f_replace}, {"reverse", f_reverse},     {"round", f_round},       {"safe", f_safe},
      {"select", f_select},   {"selectattr", f_selectattr}, {"slice", f_slice},     {"sort", f_sort},
      {"string", f_string},   {"sum", f_sum},             {"title", f_title},       {"tojson", f_tojson},
      {"trim", f_trim},       {"truncate", f_truncate},   {"unique", f_unique},     {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

inline TestFn find_test(const std::string& name) {
  using namespace builtins;
  static const std::unordered_map<std::string, TestFn> kTests = {
      {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},         {"boolean", t_boolean},
      {"true", t_true},         {"false", t_false},         {"integer", t_integer},   {"float", t_float},
      {"number", t_number},     {"string", t_string},       {"mapping", t_mapping},   {"iterable", t_iterable},
      {"sequence", t_sequence}, {"callable", t_callable},   {"escaped", t_escaped},   {"lower", t_lower},
      {"upper", t_upper},       {"odd", t_odd},             {"even", t_even},         {"divisibleby", t_divisibleby},
      {"eq", t_eq},             {"equalto", t_eq},          {"==", t_eq},             {"ne", t_ne},
      {"!=", t_ne},             {"lt", t_lt},               {"lessthan", t_lt},       {"<", t_lt},
      {"le", t_le},             {"<=", t_le},               {"gt", t_gt},             {"greaterthan", t_gt},
      {">", t_gt},              {"ge", t_ge},               {">=", t_ge},             {"in", t_in},
      {"sameas", t_sameas},     {"filter", t_filter},       {"test", t_test},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

inline const DictData& builtin_globals() {
  using namespace builtins;
  static const DictData kGlobals = [] {
    DictData d;
    d.set(Value("range"), global("range", g_range));
    d.set(Value("dict"), global("dict", g_dict));
    d.set(Value("namespace"), global("namespace", g_namespace));
    d.set(Value("raise_exception"), global("raise_exception", g_raise_exception));
    d.set(Value("strftime_now"), global("strftime_now", g_strftime_now));
    d.set(Value("joiner"), global("joiner", g_joiner));
    d.set(Value("cycler"), unsupported_global("cycler"));
    d.set(Value("lipsum"), unsupported_global("lipsum"));
    return d;
  }();
  return kGlobals;
}

}  // namespace genarm::chat::detail
