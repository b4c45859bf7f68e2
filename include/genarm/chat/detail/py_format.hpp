// Python's two string-formatting languages, as templates use them:
//   printf style: "%s: %d" % (a, b) and the `format` filter ("%s"|format(x));
//   str.format: "{} {name} {0:>8.2f}".format(...), which jinja2's sandbox allows.
// Covered: %s %r %a %d %i %u %o %x %X %e %E %f %F %g %G %c %% with flags, width, precision
// and %(name)s; format fields with auto/explicit/keyword names, .attr and [key] lookups,
// !r/!s/!a, and the spec [[fill]align][sign][#][0][width][,|_][.precision][type]. Nested fields
// inside a format spec are refused with kUnsupported.
// Thread-safety: free functions without state, thread-safe.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/chat/detail/value.hpp"

namespace genarm::chat::detail {

// Lookups used by str.format's {0.attr} and {0[key]}: provided by the interpreter (the
// sandbox's getattr / getitem).
Value format_get_attr(const Value& object, const std::string& name);
Value format_get_item(const Value& object, const Value& key);

namespace format_detail {

// Widths and precisions are bounded: "%999999999s" must not allocate a gigabyte.
inline constexpr int64_t kMaxWidth = int64_t{1} << 20;

inline void check_width(int64_t n) {
  if (n > kMaxWidth) raise(ErrorCategory::kInvalidArgument, "ValueError: format width or precision ", n, " exceeds the limit of ", kMaxWidth);
}

inline std::string pad(std::string body, size_t width, char align, const std::string& fill, std::string_view sign_prefix = "") {
  const size_t len = code_point_count(body) + code_point_count(sign_prefix);
  if (len >= width) return std::string(sign_prefix) + body;
  const size_t n = width - len;
  std::string padding;
  for (size_t i = 0; i < n; ++i) padding += fill;
  switch (align) {
    case '<': return std::string(sign_prefix) + body + padding;
    case '^': {
      std::string left;
      std::string right;
      for (size_t i = 0; i < n / 2; ++i) left += fill;
      for (size_t i = 0; i < n - n / 2; ++i) right += fill;
      return left + std::string(sign_prefix) + body + right;
    }
    case '=': return std::string(sign_prefix) + padding + body;
    default: return padding + std::string(sign_prefix) + body;
  }
}

inline std::string to_base(uint64_t v, int base, bool upper) {
  if (v == 0) return "0";
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  while (v) {
    out.insert(out.begin(), digits[v % static_cast<uint64_t>(base)]);
    v /= static_cast<uint64_t>(base);
  }
  return out;
}

inline std::string group_digits(const std::string& digits, char sep) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out;
}

// C's formatting of a double with one conversion (Python's % and format() match it for these).
inline std::string c_format_double(double d, char type, int precision, bool alternate) {
  std::string spec = "%";
  if (alternate) spec += "#";
  spec += "." + std::to_string(precision < 0 ? 6 : precision);
  spec.push_back(type);
  char buf[512];
  const int n = std::snprintf(buf, sizeof(buf), spec.c_str(), std::fabs(d));
  if (n < 0 || n >= static_cast<int>(sizeof(buf))) raise(ErrorCategory::kInvalidArgument, "ValueError: formatted number too long");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace format_detail

// "fmt % args": `args` is a tuple (positional values), or one value. As in CPython, a value
// with item access (a dict, but also a list or an undefined) may serve %(name)s and is not
// reported as "not all arguments converted".
inline std::string py_percent_format(const std::string& fmt, const Value& args) {
  using namespace format_detail;
  ValueList positional;
  const DictData* mapping = nullptr;
  bool mapping_like = false;
  if (args.is_tuple()) {
    positional = args.as_list();
  } else {
    if (args.is_dict()) mapping = &args.as_dict();
    mapping_like = args.is_dict() || args.is_list() || args.is_undefined();
    positional.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  const auto take = [&]() -> const Value& {
    if (next >= positional.size()) raise_type_error("TypeError: not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) raise(ErrorCategory::kInvalidArgument, "ValueError: incomplete format");
    const Value* arg = nullptr;
    Value keyed;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos) raise(ErrorCategory::kInvalidArgument, "ValueError: incomplete format key");
      if (args.is_undefined()) args.fail_undefined();
      if (args.is_list()) raise_type_error("TypeError: list indices must be integers or slices, not str");
      if (!mapping) raise_type_error("TypeError: format requires a mapping");
      const Value* found = mapping->find(fmt.substr(i + 1, close - i - 1));
      if (!found) raise(ErrorCategory::kInvalidArgument, "KeyError: ", py_repr_string(fmt.substr(i + 1, close - i - 1)));
      keyed = *found;
      arg = &keyed;
      used_mapping = true;
      i = close + 1;
    }
    bool left = false, zero = false, space = false, plus = false, alternate = false;
    for (; i < fmt.size(); ++i) {
      const char f = fmt[i];
      if (f == '-') {
        left = true;
      } else if (f == '0') {
        zero = true;
      } else if (f == ' ') {
        space = true;
      } else if (f == '+') {
        plus = true;
      } else if (f == '#') {
        alternate = true;
      } else {
        break;
      }
    }
    const auto read_number = [&]() -> int {
      if (i < fmt.size() && fmt[i] == '*') {
        ++i;
        const Value& w = take();
        if (!w.is_integral()) raise_type_error("TypeError: * wants int");
        check_width(w.as_int() < 0 ? -w.as_int() : w.as_int());
        return static_cast<int>(w.as_int());
      }
      int64_t n = 0;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        n = n * 10 + (fmt[i++] - '0');
        check_width(n);
      }
      return static_cast<int>(n);
    };
    int width = read_number();
    if (width < 0) {
      left = true;
      width = -width;
    }
    int precision = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      precision = read_number();
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) raise(ErrorCategory::kInvalidArgument, "ValueError: incomplete format");
    const char type = fmt[i];
    if (type == '%') {
      out.push_back('%');
      continue;
    }
    if (!arg) arg = &take();
    const Value& v = *arg;
    if (v.is_undefined() && type != 's' && type != 'r' && type != 'a') v.fail_undefined();  // int(Undefined)
    std::string body;
    std::string sign;
    bool numeric = false;
    switch (type) {
      case 's':
      case 'r':
      case 'a': {
        body = type == 's' ? py_str(v) : py_repr(v);
        if (precision >= 0) {
          const auto cps = to_code_points(body);
          body = from_code_points(cps, 0, static_cast<size_t>(precision));
        }
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        int64_t n = 0;
        if (v.is_integral()) {
          n = v.as_int();
        } else if (v.is_float() && (type == 'd' || type == 'i' || type == 'u')) {
          n = static_cast<int64_t>(std::trunc(v.as_double()));
        } else {
          raise_type_error("TypeError: %", std::string(1, type), " format: ",
                           (type == 'd' || type == 'i' || type == 'u') ? "a real number" : "an integer",
                           " is required, not ", type_name(v));
        }
        numeric = true;
        const uint64_t mag = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
        const int base = type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
        body = to_base(mag, base, type == 'X');
        if (precision >= 0 && body.size() < static_cast<size_t>(precision)) body.insert(0, static_cast<size_t>(precision) - body.size(), '0');
        if (alternate && base == 8) body = "0o" + body;
        if (alternate && base == 16) body = (type == 'X' ? "0X" : "0x") + body;
        sign = n < 0 ? "-" : plus ? "+" : space ? " " : "";
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!v.is_number()) raise_type_error("TypeError: must be real number, not ", type_name(v));
        const double d = v.as_double();
        numeric = true;
        body = c_format_double(d, type, precision, alternate);
        sign = std::signbit(d) && !std::isnan(d) ? "-" : plus ? "+" : space ? " " : "";
        break;
      }
      case 'c': {
        if (v.is_integral()) {
          body.clear();
          utf8::append(body, static_cast<char32_t>(v.as_int()));
        } else if (v.is_string() && code_point_count(v.as_string()) == 1) {
          body = v.as_string();
        } else {
          raise_type_error("TypeError: %c requires int or char");
        }
        break;
      }
      default:
        raise(ErrorCategory::kInvalidArgument, "ValueError: unsupported format character '", std::string(1, type), "'");
    }
    if (left) {
      out += pad(body, static_cast<size_t>(width), '<', " ", sign);
    } else if (zero && numeric) {
      out += pad(body, static_cast<size_t>(width), '=', "0", sign);
    } else {
      out += pad(body, static_cast<size_t>(width), '>', " ", sign);
    }
  }
  if (!used_mapping && !mapping_like && next < positional.size()) {
    raise_type_error("TypeError: not all arguments converted during string formatting");
  }
  return out;
}

// format(value, spec): Python's format mini-language for str, int, float and bool; other
// types only with an empty spec.
inline std::string py_format_value(const Value& v, const std::string& spec) {
  using namespace format_detail;
  if (spec.empty()) return py_str(v);
  size_t i = 0;
  std::string fill = " ";
  char align = 0;
  // [[fill]align]: the fill may be any character.
  {
    const std::vector<char32_t> cps = to_code_points(spec.substr(0, 8));
    const auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    if (cps.size() >= 2 && is_align(cps[1])) {
      fill = from_code_points(cps, 0, 1);
      align = static_cast<char>(cps[1]);
      i = fill.size() + 1;
    } else if (!cps.empty() && is_align(cps[0])) {
      align = static_cast<char>(cps[0]);
      i = 1;
    }
  }
  char sign = '-';
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  bool alternate = false;
  if (i < spec.size() && spec[i] == '#') {
    alternate = true;
    ++i;
  }
  if (i < spec.size() && spec[i] == '0') {
    if (!align) {
      fill = "0";
      align = '=';
    }
    ++i;
  }
  size_t width = 0;
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
    width = width * 10 + static_cast<size_t>(spec[i++] - '0');
    check_width(static_cast<int64_t>(width));
  }
  char grouping = 0;
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) grouping = spec[i++];
  int precision = -1;
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = 0;
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
      precision = precision * 10 + (spec[i++] - '0');
      check_width(precision);
    }
  }
  char type = 0;
  if (i < spec.size()) type = spec[i++];
  if (i != spec.size()) raise(ErrorCategory::kInvalidArgument, "ValueError: Invalid format specifier '", spec, "'");

  if (v.is_string() || (!v.is_number())) {
    if (!v.is_string()) {
      if (!spec.empty()) {
        raise_type_error("TypeError: unsupported format string passed to ", type_name(v), ".__format__");
      }
      return py_str(v);
    }
    if (type && type != 's') raise(ErrorCategory::kInvalidArgument, "ValueError: Unknown format code '", std::string(1, type), "' for object of type 'str'");
    std::string body = v.as_string();
    if (precision >= 0) body = from_code_points(to_code_points(body), 0, static_cast<size_t>(precision));
    return pad(body, width, align ? align : '<', fill);
  }
  const bool integer_type = type == 'd' || type == 'b' || type == 'o' || type == 'x' || type == 'X' || type == 'c' || type == 'n';
  if (v.is_integral() && (integer_type || type == 0)) {
    const int64_t n = v.as_int();
    const uint64_t mag = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
    std::string body;
    std::string prefix;
    if (type == 'c') {
      utf8::append(body, static_cast<char32_t>(n));
    } else {
      const int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
      body = to_base(mag, base, type == 'X');
      if (grouping) body = group_digits(body, grouping);
      if (alternate && base != 10) prefix = base == 2 ? "0b" : base == 8 ? "0o" : type == 'X' ? "0X" : "0x";
    }
    const std::string sign_text = n < 0 ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
    return pad(body, width, align ? align : '>', fill, sign_text + prefix);
  }
  // Floats, and ints formatted with a float type.
  if (integer_type) raise(ErrorCategory::kInvalidArgument, "ValueError: Unknown format code '", std::string(1, type), "' for object of type 'float'");
  const double d = v.as_double();
  std::string body;
  if (type == 0 && precision < 0) {
    body = py_float_repr(std::fabs(d));
  } else {
    char t = type ? type : 'g';
    double x = std::fabs(d);
    bool percent = false;
    if (t == '%') {
      percent = true;
      t = 'f';
      x *= 100.0;
    }
    if (t == 'n') t = 'g';
    body = c_format_double(x, t, precision < 0 ? 6 : precision, alternate);
    if (percent) body += "%";
  }
  if (grouping) {
    const size_t dot = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, dot), grouping) + (dot == std::string::npos ? "" : body.substr(dot));
  }
  const std::string sign_text = std::signbit(d) && !std::isnan(d) ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  return pad(body, width, align ? align : '>', fill, sign_text);
}

// str.format(*args, **kwargs).
inline std::string py_str_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  bool used_auto = false;
  bool used_manual = false;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      raise(ErrorCategory::kInvalidArgument, "ValueError: Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) raise(ErrorCategory::kInvalidArgument, "ValueError: Single '{' encountered in format string");
    const std::string field = fmt.substr(i + 1, close - i - 1);
    if (field.find('{') != std::string::npos) {
      raise(ErrorCategory::kUnsupported, "str.format: nested replacement fields are not supported");
    }
    i = close;
    // field_name [!conversion] [:spec]
    size_t name_end = field.find_first_of("!:");
    std::string name = field.substr(0, name_end);
    char conversion = 0;
    std::string spec;
    if (name_end != std::string::npos && field[name_end] == '!') {
      if (name_end + 1 >= field.size()) raise(ErrorCategory::kInvalidArgument, "ValueError: end of string while looking for conversion specifier");
      conversion = field[name_end + 1];
      name_end += 2;
      if (name_end < field.size() && field[name_end] != ':') raise(ErrorCategory::kInvalidArgument, "ValueError: expected ':' after conversion specifier");
    }
    if (name_end != std::string::npos && name_end < field.size() && field[name_end] == ':') spec = field.substr(name_end + 1);
    // The first part of the name selects the argument; then .attr and [key] parts.
    const size_t part_end = name.find_first_of(".[");
    const std::string head = name.substr(0, part_end);
    Value value;
    if (head.empty()) {
      if (used_manual) raise(ErrorCategory::kInvalidArgument, "ValueError: cannot switch from manual field specification to automatic field numbering");
      used_auto = true;
      if (auto_index >= args.positional.size()) raise(ErrorCategory::kInvalidArgument, "IndexError: Replacement index ", auto_index, " out of range for positional args tuple");
      value = args.positional[auto_index++];
    } else if (head.find_first_not_of("0123456789") == std::string::npos) {
      if (used_auto) raise(ErrorCategory::kInvalidArgument, "ValueError: cannot switch from automatic field numbering to manual field specification");
      used_manual = true;
      const size_t index = std::stoul(head);
      if (index >= args.positional.size()) raise(ErrorCategory::kInvalidArgument, "IndexError: Replacement index ", index, " out of range for positional args tuple");
      value = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [key, v] : args.named) {
        if (key == head) {
          value = v;
          found = true;
        }
      }
      if (!found) raise(ErrorCategory::kInvalidArgument, "KeyError: ", py_repr_string(head));
    }
    for (size_t p = part_end; p != std::string::npos && p < name.size();) {
      if (name[p] == '.') {
        const size_t end = name.find_first_of(".[", p + 1);
        value = format_get_attr(value, name.substr(p + 1, end == std::string::npos ? std::string::npos : end - p - 1));
        p = end;
      } else {
        const size_t end = name.find(']', p);
        if (end == std::string::npos) raise(ErrorCategory::kInvalidArgument, "ValueError: Missing ']' in format string");
        const std::string key = name.substr(p + 1, end - p - 1);
        const bool numeric = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
        value = format_get_item(value, numeric ? Value(static_cast<int64_t>(std::stoll(key))) : Value(key));
        p = end + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      value = Value(py_repr(value));
    } else if (conversion == 's') {
      value = Value(py_str(value));
    } else if (conversion) {
      raise(ErrorCategory::kInvalidArgument, "ValueError: Unknown conversion specifier ", std::string(1, conversion));
    }
    out += py_format_value(value, spec);
  }
  return out;
}

}  // namespace genarm::chat::detail
