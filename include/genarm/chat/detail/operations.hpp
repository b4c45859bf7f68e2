// Python's operators and attribute rules on template values, as jinja2's
// ImmutableSandboxedEnvironment applies them:
//   - arithmetic (+ - * / // % **) with Python's int/float rules and TypeError messages
//     (ints are 64-bit here: overflow is refused with kUnsupported, where Python grows them);
//   - `in`, iteration (a dict iterates its keys, a string its characters, undefined nothing);
//   - attribute and item access: x.name tries the attribute, then the item, x[key] the other
//     way round; a miss is an undefined value that remembers why. Methods of str, dict, list
//     and tuple are bound callables; methods that mutate (list.append, dict.update) and names
//     starting with '_' are refused the way the sandbox refuses them (printing them gives
//     nothing, calling them is a SecurityError).
// Thread-safety: free functions without state, thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "genarm/chat/detail/py_format.hpp"
#include "genarm/chat/detail/value.hpp"

namespace genarm::chat::detail {

// Binds call arguments to named parameters, Python style, with Python's TypeError messages:
//   ArgParser a("indent", args, {"width", "first", "blank"});
//   a.get(0, Value(4)) ...; a.finish();
class ArgParser {
 public:
  ArgParser(std::string name, const CallArgs& args, std::initializer_list<std::string_view> params)
      : name_(std::move(name)), params_(params), bound_(params.size()) {
    if (args.positional.size() > params_.size()) {
      raise_type_error("TypeError: ", name_, "() takes at most ", params_.size(), " argument",
                       params_.size() == 1 ? "" : "s", " (", args.positional.size(), " given)");
    }
    for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = args.positional[i];
    for (const auto& [key, value] : args.named) {
      size_t index = params_.size();
      for (size_t i = 0; i < params_.size(); ++i) {
        if (params_[i] == key) index = i;
      }
      if (index == params_.size()) raise_type_error("TypeError: ", name_, "() got an unexpected keyword argument '", key, "'");
      if (bound_[index]) raise_type_error("TypeError: ", name_, "() got multiple values for argument '", key, "'");
      bound_[index] = value;
    }
  }
  bool has(size_t i) const { return bound_[i].has_value(); }
  Value get(size_t i, Value fallback = Value()) const { return bound_[i] ? *bound_[i] : std::move(fallback); }
  // A required parameter.
  Value required(size_t i) const {
    if (!bound_[i]) raise_type_error("TypeError: ", name_, "() missing required argument '", params_[i], "'");
    return *bound_[i];
  }
  int64_t get_int(size_t i, int64_t fallback) const {
    if (!bound_[i] || bound_[i]->is_none()) return fallback;
    if (!bound_[i]->is_integral()) {
      raise_type_error("TypeError: ", name_, "(): '", params_[i], "' must be an integer, not ", type_name(*bound_[i]));
    }
    return bound_[i]->as_int();
  }
  std::optional<std::string> get_string(size_t i) const {
    if (!bound_[i] || bound_[i]->is_none()) return std::nullopt;
    if (!bound_[i]->is_string()) {
      raise_type_error("TypeError: ", name_, "(): '", params_[i], "' must be str, not ", type_name(*bound_[i]));
    }
    return bound_[i]->as_string();
  }
  bool get_bool(size_t i, bool fallback) const { return bound_[i] ? truthy(*bound_[i]) : fallback; }

 private:
  std::string name_;
  std::vector<std::string_view> params_;
  std::vector<std::optional<Value>> bound_;
};

inline void expect_no_args(std::string_view name, const CallArgs& args) {
  if (!args.positional.empty() || !args.named.empty()) {
    raise_type_error("TypeError: ", name, "() takes no arguments");
  }
}

// ---- iteration, len, in ---------------------------------------------------------------

// The items `for x in v` visits.
inline ValueList iterate(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined: return {};
    case ValueKind::kList:
    case ValueKind::kTuple: return v.as_list();
    case ValueKind::kDict: {
      ValueList keys;
      keys.reserve(v.as_dict().size());
      for (const auto& item : v.as_dict().items) keys.push_back(item.first);
      return keys;
    }
    case ValueKind::kString: {
      ValueList chars;
      const std::string& s = v.as_string();
      for (size_t i = 0; i < s.size();) {
        const uint32_t n = utf8::decode(s, i).length;
        chars.emplace_back(s.substr(i, n));
        i += n;
      }
      return chars;
    }
    case ValueKind::kLoop: return *v.as_loop().items;
    case ValueKind::kIterator: return v.as_iterator().take_all();
    default: raise_type_error("TypeError: '", type_name(v), "' object is not iterable");
  }
}

inline bool is_iterable(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kList:
    case ValueKind::kTuple:
    case ValueKind::kDict:
    case ValueKind::kString:
    case ValueKind::kLoop:
    case ValueKind::kIterator: return true;
    default: return false;
  }
}

inline int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined: return 0;
    case ValueKind::kString: return static_cast<int64_t>(code_point_count(v.as_string()));
    case ValueKind::kList:
    case ValueKind::kTuple: return static_cast<int64_t>(v.as_list().size());
    case ValueKind::kDict: return static_cast<int64_t>(v.as_dict().size());
    case ValueKind::kLoop: return static_cast<int64_t>(v.as_loop().items->size());
    case ValueKind::kIterator:
      if (!v.as_iterator().one_shot()) return static_cast<int64_t>(v.as_iterator().items.size());
      raise_type_error("TypeError: object of type '", type_name(v), "' has no len()");
    default: raise_type_error("TypeError: object of type '", type_name(v), "' has no len()");
  }
}

inline bool is_hashable(const Value& v) {
  if (v.is_list() || v.is_dict() || v.is_namespace()) return false;
  if (v.is_tuple()) {
    for (const Value& item : v.as_list()) {
      if (!is_hashable(item)) return false;
    }
  }
  return true;
}

// `item in container`.
inline bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kUndefined: return false;
    case ValueKind::kString:
      if (!item.is_string()) {
        raise_type_error("TypeError: 'in <string>' requires string as left operand, not ", type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case ValueKind::kList:
    case ValueKind::kTuple:
      for (const Value& v : container.as_list()) {
        if (equals(v, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      if (!is_hashable(item)) raise_type_error("TypeError: unhashable type: '", type_name(item), "'");
      return container.as_dict().find(item) != nullptr;
    case ValueKind::kLoop:
      for (const Value& v : *container.as_loop().items) {
        if (equals(v, item)) return true;
      }
      return false;
    case ValueKind::kIterator: {
      // A generator is consumed up to the item found, as Python's `in` does.
      IteratorData& it = container.as_iterator();
      it.materialize();
      for (size_t i = it.one_shot() ? it.position : 0; i < it.items.size(); ++i) {
        if (equals(it.items[i], item)) {
          if (it.one_shot()) it.position = i + 1;
          return true;
        }
      }
      if (it.one_shot()) it.position = it.items.size();
      return false;
    }
    default: raise_type_error("TypeError: argument of type '", type_name(container), "' is not iterable");
  }
}

// ---- arithmetic -----------------------------------------------------------------------

// A str as Markup text: a Markup as it is, a plain str escaped.
inline std::string escaped(const Value& s) { return s.is_markup() ? s.as_string() : markup_escape(s.as_string()); }

// Arguments given to a Markup's method or % are escaped first (markupsafe's _escape_argspec).
inline Value escape_argument(const Value& v) {
  if (v.is_string()) return v.is_markup() ? v : Value::markup(markup_escape(v.as_string()));
  if (v.is_sequence()) {
    ValueList items;
    for (const Value& item : v.as_list()) items.push_back(escape_argument(item));
    return v.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
  }
  if (v.is_dict()) {
    DictData d;
    for (const auto& [k, x] : v.as_dict().items) d.set(k, escape_argument(x));
    return Value::dict(std::move(d));
  }
  return v;
}

// Marks a string result, or the strings of a list or tuple result, as Markup.
inline Value as_markup(const Value& v) {
  if (v.is_string()) return Value::markup(v.as_string());
  if (v.is_sequence()) {
    ValueList items;
    for (const Value& item : v.as_list()) items.push_back(as_markup(item));
    return v.is_list() ? Value::list(std::move(items)) : Value::tuple(std::move(items));
  }
  return v;
}

// "fmt % args"; a Markup format escapes its arguments and gives Markup.
inline Value percent_format(const Value& fmt, const Value& args) {
  if (!fmt.is_markup()) return Value(py_percent_format(fmt.as_string(), args));
  return Value::markup(py_percent_format(fmt.as_string(), escape_argument(args)));
}

[[noreturn]] inline void fail_operands(std::string_view op, const Value& a, const Value& b) {
  raise_type_error("TypeError: unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'");
}

[[noreturn]] inline void fail_overflow(std::string_view op) {
  raise(ErrorCategory::kUnsupported, "integer overflow in '", op,
        "' (template integers are 64-bit; Python's would grow)");
}

inline int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail_overflow("+");
  return r;
}
inline int64_t checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) fail_overflow("-");
  return r;
}
inline int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail_overflow("*");
  return r;
}

inline Value repeat(const Value& seq, int64_t times) {
  if (times <= 0) {
    if (seq.is_string()) return seq.is_markup() ? Value::markup("") : Value(std::string());
    return seq.is_list() ? Value::list({}) : Value::tuple({});
  }
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    check_built_size(s.size() * static_cast<size_t>(times), "repeated string");
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  const ValueList& items = seq.as_list();
  check_built_size(items.size() * static_cast<size_t>(times), "repeated list");
  ValueList out;
  out.reserve(items.size() * static_cast<size_t>(times));
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

// Python's float floor division and modulo (the result of % takes the divisor's sign).
inline void float_divmod(double a, double b, double& div, double& mod) {
  mod = std::fmod(a, b);
  div = (a - mod) / b;
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  if (div != 0.0) {
    const double floor_div = std::floor(div);
    if (div - floor_div > 0.5) div = floor_div + 1.0; else div = floor_div;
  } else {
    div = std::copysign(0.0, a / b);
  }
}

inline Value binary_arith(char op2, std::string_view op, const Value& a, const Value& b) {
  if (a.is_undefined()) a.fail_undefined();
  // str % x formats x whatever it is (an undefined prints as nothing); elsewhere an undefined
  // operand's own operator raises.
  if (op2 == '%' && a.is_string()) return percent_format(a, b);
  if (b.is_undefined()) b.fail_undefined();
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.is_float() || b.is_float());
  switch (op2) {
    case '+':
      if (numbers) return floats ? Value(a.as_double() + b.as_double()) : Value(checked_add(a.as_int(), b.as_int()));
      if (a.is_markup() || b.is_markup()) {
        if (!a.is_string() || !b.is_string()) fail_operands(op, a, b);
        return Value::markup(escaped(a) + escaped(b));  // Markup escapes the plain str it meets
      }
      if (a.is_string() && b.is_string()) {
        check_built_size(a.as_string().size() + b.as_string().size(), "concatenated string");
        return Value(a.as_string() + b.as_string());
      }
      if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
        ValueList out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        check_built_size(out.size(), "concatenated list");
        return a.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
      }
      if (a.is_string() || a.is_list() || a.is_tuple()) {
        raise_type_error("TypeError: can only concatenate ", type_name(a), " (not \"", type_name(b), "\") to ", type_name(a));
      }
      fail_operands(op, a, b);
    case '-':
      if (numbers) return floats ? Value(a.as_double() - b.as_double()) : Value(checked_sub(a.as_int(), b.as_int()));
      fail_operands(op, a, b);
    case '*':
      if (numbers) return floats ? Value(a.as_double() * b.as_double()) : Value(checked_mul(a.as_int(), b.as_int()));
      if ((a.is_string() || a.is_sequence()) && b.is_integral()) return repeat(a, b.as_int());
      if (a.is_integral() && (b.is_string() || b.is_sequence())) return repeat(b, a.as_int());
      if (a.is_string() || a.is_sequence()) raise_type_error("TypeError: can't multiply sequence by non-int of type '", type_name(b), "'");
      if (b.is_string() || b.is_sequence()) raise_type_error("TypeError: can't multiply sequence by non-int of type '", type_name(a), "'");
      fail_operands(op, a, b);
    case '/':
      if (!numbers) fail_operands(op, a, b);
      if (b.as_double() == 0.0) {
        raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: ", floats ? "float division by zero" : "division by zero");
      }
      return Value(a.as_double() / b.as_double());
    case 'f':  // //
      if (!numbers) fail_operands(op, a, b);
      if (floats) {
        if (b.as_double() == 0.0) raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: float floor division by zero");
        double div, mod;
        float_divmod(a.as_double(), b.as_double(), div, mod);
        return Value(div);
      } else {
        const int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) fail_overflow("//");
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value(q);
      }
    case '%':
      if (a.is_string()) return percent_format(a, b);
      if (!numbers) fail_operands(op, a, b);
      if (floats) {
        if (b.as_double() == 0.0) raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: float modulo");
        double div, mod;
        float_divmod(a.as_double(), b.as_double(), div, mod);
        return Value(mod);
      } else {
        const int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: integer modulo by zero");
        if (y == -1) return Value(int64_t{0});
        int64_t r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return Value(r);
      }
    case 'p': {  // **
      if (!numbers) fail_operands(op, a, b);
      if (!floats && b.as_int() >= 0) {
        int64_t base = a.as_int(), exp = b.as_int(), result = 1;
        while (exp > 0) {
          if (exp & 1) {
            if (__builtin_mul_overflow(result, base, &result)) fail_overflow("**");
          }
          exp >>= 1;
          if (exp > 0 && __builtin_mul_overflow(base, base, &base)) fail_overflow("**");
        }
        return Value(result);
      }
      const double x = a.as_double(), y = b.as_double();
      if (x == 0.0 && y < 0) raise(ErrorCategory::kInvalidArgument, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) {
        raise(ErrorCategory::kUnsupported, "a negative number to a fractional power is complex, which templates do not support");
      }
      return Value(std::pow(x, y));
    }
  }
  fail_operands(op, a, b);
}

inline Value unary_minus(const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_float()) return Value(-v.as_double());
  if (v.is_integral()) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) fail_overflow("-");
    return Value(-v.as_int());
  }
  raise_type_error("TypeError: bad operand type for unary -: '", type_name(v), "'");
}

inline Value unary_plus(const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_float()) return v;
  if (v.is_integral()) return Value(v.as_int());
  raise_type_error("TypeError: bad operand type for unary +: '", type_name(v), "'");
}

// ---- indexing -------------------------------------------------------------------------

// Python's slice.indices(length): clamps start and stop for the given step.
inline void slice_indices(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step,
                          int64_t& out_start, int64_t& out_stop) {
  const auto adjust = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) {
      x += length;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= length) {
      x = step < 0 ? length - 1 : length;
    }
    return x;
  };
  out_start = adjust(start, step < 0 ? length - 1 : 0);
  out_stop = adjust(stop, step < 0 ? -1 : length);
}

// obj[start:stop:step]. jinja2 slices with Python's own [] (not the sandbox's getitem), so
// errors are Python's: bad bounds and unsliceable objects raise.
inline Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) obj.fail_undefined();
  const auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (v.is_integral()) return v.as_int();
    raise_type_error("TypeError: slice indices must be integers or None or have an __index__ method");
  };
  if (obj.is_dict()) raise_type_error("TypeError: unhashable type: 'slice'");
  const bool range = obj.is_iterator() && obj.as_iterator().kind == IteratorData::Kind::kRange;
  if (!(obj.is_string() || obj.is_sequence() || range)) {
    raise_type_error("TypeError: '", type_name(obj), "' object is not subscriptable");
  }
  const std::optional<int64_t> b = bound(start);
  const std::optional<int64_t> e = bound(stop);
  const std::optional<int64_t> s = bound(step);
  if (range) {  // a range's slice is a range
    const IteratorData& r = obj.as_iterator();
    const int64_t st = s.value_or(1);
    if (st == 0) raise(ErrorCategory::kInvalidArgument, "ValueError: slice step cannot be zero");
    int64_t i0, i1;
    slice_indices(static_cast<int64_t>(r.items.size()), b, e, st, i0, i1);
    auto out = std::make_shared<IteratorData>();
    out->kind = IteratorData::Kind::kRange;
    out->type = "range";
    for (int64_t i = i0; st > 0 ? i < i1 : i > i1; i += st) out->items.push_back(r.items[static_cast<size_t>(i)]);
    out->start = r.start + i0 * r.step;
    out->stop = r.start + i1 * r.step;
    out->step = r.step * st;
    return Value::iterator(std::move(out));
  }
  const int64_t st = s.value_or(1);
  if (st == 0) raise(ErrorCategory::kInvalidArgument, "ValueError: slice step cannot be zero");
  if (obj.is_string()) {
    const std::string& str = obj.as_string();
    if (is_ascii(str)) {
      int64_t i0, i1;
      slice_indices(static_cast<int64_t>(str.size()), b, e, st, i0, i1);
      std::string out;
      if (st == 1) {
        if (i1 > i0) out = str.substr(static_cast<size_t>(i0), static_cast<size_t>(i1 - i0));
      } else {
        for (int64_t i = i0; st > 0 ? i < i1 : i > i1; i += st) out.push_back(str[static_cast<size_t>(i)]);
      }
      return obj.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
    }
    const std::vector<char32_t> cps = to_code_points(str);
    int64_t i0, i1;
    slice_indices(static_cast<int64_t>(cps.size()), b, e, st, i0, i1);
    std::string out;
    for (int64_t i = i0; st > 0 ? i < i1 : i > i1; i += st) utf8::append(out, cps[static_cast<size_t>(i)]);
    return obj.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  const ValueList& items = obj.as_list();
  int64_t i0, i1;
  slice_indices(static_cast<int64_t>(items.size()), b, e, st, i0, i1);
  ValueList out;
  for (int64_t i = i0; st > 0 ? i < i1 : i > i1; i += st) out.push_back(items[static_cast<size_t>(i)]);
  return obj.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

Value get_attr(const Value& obj, const std::string& name);

inline Value missing_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute " + py_repr_string(name));
}

// obj[key], then (for a string key) obj.key; else undefined.
inline Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) obj.fail_undefined();
  switch (obj.kind()) {
    case ValueKind::kDict: {
      if (is_hashable(key)) {
        if (const Value* v = obj.as_dict().find(key)) return *v;
      }
      break;
    }
    case ValueKind::kList:
    case ValueKind::kTuple: {
      if (key.is_integral()) {
        const ValueList& items = obj.as_list();
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(items.size());
        if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[static_cast<size_t>(i)];
      }
      break;
    }
    case ValueKind::kString: {
      if (key.is_integral()) {
        const std::string& s = obj.as_string();
        int64_t i = key.as_int();
        std::optional<std::string> ch;
        if (is_ascii(s)) {
          if (i < 0) i += static_cast<int64_t>(s.size());
          if (i >= 0 && i < static_cast<int64_t>(s.size())) ch = s.substr(static_cast<size_t>(i), 1);
        } else {
          const std::vector<char32_t> cps = to_code_points(s);
          if (i < 0) i += static_cast<int64_t>(cps.size());
          if (i >= 0 && i < static_cast<int64_t>(cps.size())) ch = utf8::encode(cps[static_cast<size_t>(i)]);
        }
        if (ch) return obj.is_markup() ? Value::markup(std::move(*ch)) : Value(std::move(*ch));
      }
      break;
    }
    case ValueKind::kIterator: {
      const IteratorData& r = obj.as_iterator();
      if (r.kind == IteratorData::Kind::kRange && key.is_integral()) {
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(r.items.size());
        if (i >= 0 && i < static_cast<int64_t>(r.items.size())) return r.items[static_cast<size_t>(i)];
      }
      break;
    }
    default: break;
  }
  if (key.is_string()) {
    Value attr = get_attr(obj, key.as_string());
    if (!attr.is_undefined() || (attr.undefined_info() && attr.undefined_info()->security)) return attr;
    return missing_attribute(obj, key.as_string());
  }
  return Value::undefined(object_type_repr(obj) + " has no element " + py_repr(key));
}

// ---- methods ---------------------------------------------------------------------------

inline Value bound_method(std::string name, std::function<Value(CallArgs&)> fn) {
  auto data = std::make_shared<CallableData>();
  data->name = std::move(name);
  data->fn = [fn = std::move(fn)](Renderer&, CallArgs& args) { return fn(args); };
  return Value::callable(std::move(data));
}

inline Value unsafe_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("access to attribute " + py_repr_string(name) + " of " + py_repr_string(std::string(type_name(obj))) +
                              " object is unsafe.",
                          /*security=*/true);
}

inline Value unsupported_method(const Value& obj, const std::string& name) {
  const std::string full = std::string(type_name(obj)) + "." + name;
  return bound_method(full, [full](CallArgs&) -> Value {
    raise(ErrorCategory::kUnsupported, "the method ", full, "() is not supported");
  });
}

// Code point index of a byte offset (str.find returns character positions).
inline int64_t char_index(const std::string& s, size_t byte_offset) {
  return static_cast<int64_t>(code_point_count(std::string_view(s).substr(0, byte_offset)));
}

// Byte offset of a character index clamped like Python's start/end arguments.
inline size_t byte_offset_of(const std::string& s, int64_t index) {
  const int64_t length = static_cast<int64_t>(code_point_count(s));
  if (index < 0) index = std::max<int64_t>(0, index + length);
  if (index >= length) return s.size();
  size_t offset = 0;
  for (int64_t i = 0; i < index; ++i) offset += utf8::decode(s, offset).length;
  return offset;
}

inline std::string expect_str_arg(std::string_view method, const Value& v) {
  if (!v.is_string()) {
    if (v.is_undefined()) v.fail_undefined();
    raise_type_error("TypeError: ", method, "() argument must be str, not ", type_name(v));
  }
  return v.as_string();
}

inline Value to_string_list(std::vector<std::string> parts) {
  ValueList out;
  out.reserve(parts.size());
  for (auto& p : parts) out.emplace_back(std::move(p));
  return Value::list(std::move(out));
}

// The str methods markupsafe's Markup overrides to escape their arguments and return Markup.
inline bool is_markup_method(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "capitalize", "title", "lower", "upper", "replace", "ljust", "rjust", "lstrip", "rstrip", "center", "strip",
      "swapcase", "zfill", "casefold", "removeprefix", "removesuffix", "format", "join", "split", "rsplit",
      "splitlines", "partition", "rpartition"};
  for (const std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

inline Value string_method(const Value& self, const std::string& name) {
  const std::string& s = self.as_string();
  const bool markup = self.is_markup() && is_markup_method(name);
  const auto method = [&](auto fn) {
    return bound_method("str." + name, [self, fn, markup](CallArgs& args) {
      if (!markup) return fn(self.as_string(), args);
      for (Value& v : args.positional) v = escape_argument(v);
      for (auto& [k, v] : args.named) v = escape_argument(v);
      return as_markup(fn(self.as_string(), args));
    });
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const StripSide side = name == "strip" ? StripSide::kBoth : name == "lstrip" ? StripSide::kLeft : StripSide::kRight;
    return method([side, name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, {"chars"});
      const std::optional<std::string> chars = a.get_string(0);
      return Value(py_strip(str, side, chars ? &*chars : nullptr));
    });
  }
  if (name == "upper") return method([](const std::string& str, CallArgs& args) { expect_no_args("upper", args); return Value(py_upper(str)); });
  if (name == "lower" || name == "casefold") {
    return method([name](const std::string& str, CallArgs& args) { expect_no_args(name, args); return Value(py_lower(str)); });
  }
  if (name == "title") return method([](const std::string& str, CallArgs& args) { expect_no_args("title", args); return Value(py_title(str)); });
  if (name == "capitalize") return method([](const std::string& str, CallArgs& args) { expect_no_args("capitalize", args); return Value(py_capitalize(str)); });
  if (name == "swapcase") return method([](const std::string& str, CallArgs& args) { expect_no_args("swapcase", args); return Value(py_swapcase(str)); });
  if (name == "split" || name == "rsplit") {
    return method([name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, {"sep", "maxsplit"});
      const std::optional<std::string> sep = a.get_string(0);
      const int64_t maxsplit = a.get_int(1, -1);
      if (!sep) {
        if (name == "split") return to_string_list(py_split_whitespace(str, maxsplit));
        // rsplit without a separator: pieces from the right; the rest keeps its leading spaces.
        const std::vector<char32_t> cps = to_code_points(str);
        std::vector<std::string> tail;
        size_t end = cps.size();
        while (true) {
          while (end > 0 && py_isspace(cps[end - 1])) --end;
          if (end == 0) break;
          if (maxsplit >= 0 && static_cast<int64_t>(tail.size()) >= maxsplit) {
            tail.push_back(from_code_points(cps, 0, end));
            break;
          }
          size_t start = end;
          while (start > 0 && !py_isspace(cps[start - 1])) --start;
          tail.push_back(from_code_points(cps, start, end));
          end = start;
        }
        return to_string_list(std::vector<std::string>(tail.rbegin(), tail.rend()));
      }
      if (sep->empty()) raise(ErrorCategory::kInvalidArgument, "ValueError: empty separator");
      return to_string_list(name == "split" ? py_split(str, *sep, maxsplit) : py_rsplit(str, *sep, maxsplit));
    });
  }
  if (name == "splitlines") {
    return method([](const std::string& str, CallArgs& args) {
      ArgParser a("splitlines", args, {"keepends"});
      return to_string_list(py_splitlines(str, a.get_bool(0, false)));
    });
  }
  if (name == "startswith" || name == "endswith") {
    return method([name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, {"prefix", "start", "end"});
      const Value what = a.required(0);
      const size_t begin = a.has(1) && !a.get(1).is_none() ? byte_offset_of(str, a.get_int(1, 0)) : 0;
      const size_t end = a.has(2) && !a.get(2).is_none() ? byte_offset_of(str, a.get_int(2, 0)) : str.size();
      const std::string_view view = begin <= end ? std::string_view(str).substr(begin, end - begin) : std::string_view();
      const auto test = [&](const Value& v) {
        const std::string p = expect_str_arg(name, v);
        if (begin > end) return false;
        if (name == "startswith") return view.substr(0, p.size()) == p;
        return view.size() >= p.size() && view.substr(view.size() - p.size()) == p;
      };
      if (what.is_tuple()) {
        for (const Value& v : what.as_list()) {
          if (test(v)) return Value(true);
        }
        return Value(false);
      }
      if (!what.is_string()) {
        raise_type_error("TypeError: ", name, " first arg must be str or a tuple of str, not ", type_name(what));
      }
      return Value(test(what));
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    return method([name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, {"sub", "start", "end"});
      const std::string sub = expect_str_arg(name, a.required(0));
      const size_t begin = a.has(1) && !a.get(1).is_none() ? byte_offset_of(str, a.get_int(1, 0)) : 0;
      const size_t end = a.has(2) && !a.get(2).is_none() ? byte_offset_of(str, a.get_int(2, 0)) : str.size();
      if (name == "count") {
        if (begin > end) return Value(int64_t{0});
        const std::string_view view = std::string_view(str).substr(begin, end - begin);
        if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(view)) + 1);
        int64_t n = 0;
        for (size_t p = view.find(sub); p != std::string_view::npos; p = view.find(sub, p + sub.size())) ++n;
        return Value(n);
      }
      size_t found = std::string::npos;
      if (begin <= end) {
        const std::string_view view = std::string_view(str).substr(begin, end - begin);
        const size_t at = (name == "find" || name == "index") ? view.find(sub) : view.rfind(sub);
        if (at != std::string_view::npos) found = begin + at;
      }
      if (found == std::string::npos) {
        if (name == "index" || name == "rindex") raise(ErrorCategory::kInvalidArgument, "ValueError: substring not found");
        return Value(int64_t{-1});
      }
      return Value(char_index(str, found));
    });
  }
  if (name == "replace") {
    return method([](const std::string& str, CallArgs& args) {
      ArgParser a("replace", args, {"old", "new", "count"});
      return Value(py_replace(str, expect_str_arg("replace", a.required(0)), expect_str_arg("replace", a.required(1)), a.get_int(2, -1)));
    });
  }
  if (name == "join") {
    return method([](const std::string& str, CallArgs& args) {
      ArgParser a("join", args, {"iterable"});
      std::string out;
      bool first = true;
      size_t index = 0;
      for (const Value& v : iterate(a.required(0))) {
        if (!v.is_string()) {
          raise_type_error("TypeError: sequence item ", index, ": expected str instance, ", type_name(v), " found");
        }
        ++index;
        if (!first) out += str;
        first = false;
        out += v.as_string();
        check_built_size(out.size(), "joined string");
      }
      return Value(std::move(out));
    });
  }
  if (name == "format") {
    return method([](const std::string& str, CallArgs& args) { return Value(py_str_format(str, args)); });
  }
  if (name == "removeprefix" || name == "removesuffix") {
    return method([name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, {"fix"});
      const std::string fix = expect_str_arg(name, a.required(0));
      if (name == "removeprefix") return Value(str.compare(0, fix.size(), fix) == 0 ? str.substr(fix.size()) : str);
      const bool has = str.size() >= fix.size() && str.compare(str.size() - fix.size(), fix.size(), fix) == 0;
      return Value(has ? str.substr(0, str.size() - fix.size()) : str);
    });
  }
  if (name == "partition" || name == "rpartition") {
    return method([name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, {"sep"});
      const std::string sep = expect_str_arg(name, a.required(0));
      if (sep.empty()) raise(ErrorCategory::kInvalidArgument, "ValueError: empty separator");
      const size_t at = name == "partition" ? str.find(sep) : str.rfind(sep);
      if (at == std::string::npos) {
        return name == "partition" ? Value::tuple({Value(str), Value(""), Value("")})
                                   : Value::tuple({Value(""), Value(""), Value(str)});
      }
      return Value::tuple({Value(str.substr(0, at)), Value(sep), Value(str.substr(at + sep.size()))});
    });
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    return method([name](const std::string& str, CallArgs& args) {
      ArgParser a(name, args, name == "zfill" ? std::initializer_list<std::string_view>{"width"}
                                              : std::initializer_list<std::string_view>{"width", "fillchar"});
      const int64_t width = a.get_int(0, 0);
      check_built_size(static_cast<size_t>(std::max<int64_t>(width, 0)), "padded string");
      if (name == "zfill") {
        const size_t len = code_point_count(str);
        if (width <= static_cast<int64_t>(len)) return Value(str);
        const size_t n = static_cast<size_t>(width) - len;
        if (!str.empty() && (str[0] == '-' || str[0] == '+')) return Value(str.substr(0, 1) + std::string(n, '0') + str.substr(1));
        return Value(std::string(n, '0') + str);
      }
      std::string fill = " ";
      if (a.has(1)) {
        fill = expect_str_arg(name, a.get(1));
        if (code_point_count(fill) != 1) raise_type_error("TypeError: The fill character must be exactly one character long");
      }
      const size_t len = code_point_count(str);
      if (width <= static_cast<int64_t>(len)) return Value(str);
      const size_t n = static_cast<size_t>(width) - len;
      std::string left, right;
      const size_t nl = name == "rjust" ? n : name == "ljust" ? 0 : n / 2 + (n & static_cast<size_t>(width) & 1);
      for (size_t i = 0; i < nl; ++i) left += fill;
      for (size_t i = 0; i < n - nl; ++i) right += fill;
      return Value(left + str + right);
    });
  }
  // Character-class predicates.
  using Pred = bool (*)(char32_t);
  Pred pred = nullptr;
  bool needs_cased = false;
  if (name == "isalpha") pred = py_is_alpha;
  if (name == "isalnum") pred = py_is_alnum;
  if (name == "isdigit" || name == "isdecimal") pred = py_is_decimal;
  if (name == "isnumeric") pred = py_is_numeric;
  if (name == "isspace") pred = py_isspace;
  if (name == "isascii") pred = [](char32_t c) { return c < 0x80; };
  if (name == "islower") {
    pred = [](char32_t c) { return !py_is_upper(c) && !(py_is_cased(c) && !py_is_lower(c)); };
    needs_cased = true;
  }
  if (name == "isupper") {
    pred = [](char32_t c) { return !py_is_lower(c) && !(py_is_cased(c) && !py_is_upper(c)); };
    needs_cased = true;
  }
  if (pred) {
    return method([pred, needs_cased, name](const std::string& str, CallArgs& args) {
      expect_no_args(name, args);
      const std::vector<char32_t> cps = to_code_points(str);
      if (cps.empty()) return Value(name == "isascii");
      bool any_cased = false;
      for (const char32_t c : cps) {
        if (!pred(c)) return Value(false);
        any_cased = any_cased || py_is_cased(c);
      }
      return Value(!needs_cased || any_cased);
    });
  }
  if (name == "istitle") {
    return method([](const std::string& str, CallArgs& args) {
      expect_no_args("istitle", args);
      bool previous_cased = false, any = false;
      for (const char32_t c : to_code_points(str)) {
        if (py_is_upper(c) || tokenizer::general_category(c) == tokenizer::GeneralCategory::kLt) {
          if (previous_cased) return Value(false);
          previous_cased = any = true;
        } else if (py_is_lower(c)) {
          if (!previous_cased) return Value(false);
          previous_cased = any = true;
        } else {
          previous_cased = false;
        }
      }
      return Value(any);
    });
  }
  static const char* const kOtherStrMethods[] = {"encode", "expandtabs", "format_map", "isidentifier",
                                                 "isprintable", "maketrans", "translate"};
  for (const char* m : kOtherStrMethods) {
    if (name == m) return unsupported_method(self, name);
  }
  (void)s;
  return Value();
}

inline Value dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return bound_method("dict." + name, [self, name](CallArgs& args) {
      expect_no_args(name, args);
      ValueList out;
      for (const auto& [k, v] : self.as_dict().items) {
        if (name == "items") {
          out.push_back(Value::tuple({k, v}));
        } else {
          out.push_back(name == "keys" ? k : v);
        }
      }
      const auto kind = name == "items"  ? IteratorData::Kind::kDictItems
                        : name == "keys" ? IteratorData::Kind::kDictKeys
                                         : IteratorData::Kind::kDictValues;
      return make_iterator(kind, "dict_" + name, std::move(out));
    });
  }
  if (name == "get") {
    return bound_method("dict.get", [self](CallArgs& args) {
      if (!args.named.empty()) raise_type_error("TypeError: get() takes no keyword arguments");
      if (args.positional.empty() || args.positional.size() > 2) {
        raise_type_error("TypeError: get expected 1 or 2 arguments, got ", args.positional.size());
      }
      const Value& key = args.positional[0];
      if (!is_hashable(key)) raise_type_error("TypeError: unhashable type: '", type_name(key), "'");
      if (const Value* v = self.as_dict().find(key)) return *v;
      return args.positional.size() > 1 ? args.positional[1] : Value::none();
    });
  }
  if (name == "copy") {
    return bound_method("dict.copy", [self](CallArgs& args) { expect_no_args("copy", args); return self; });
  }
  if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update") {
    return unsafe_attribute(self, name);
  }
  if (name == "fromkeys") return unsupported_method(self, name);
  return Value();
}

inline Value sequence_method(const Value& self, const std::string& name) {
  if (name == "count") {
    return bound_method(std::string(type_name(self)) + ".count", [self](CallArgs& args) {
      ArgParser a("count", args, {"value"});
      const Value v = a.required(0);
      int64_t n = 0;
      for (const Value& item : self.as_list()) n += equals(item, v);
      return Value(n);
    });
  }
  if (name == "index") {
    return bound_method(std::string(type_name(self)) + ".index", [self](CallArgs& args) {
      ArgParser a("index", args, {"value", "start", "stop"});
      const Value v = a.required(0);
      const ValueList& items = self.as_list();
      int64_t begin, end;
      slice_indices(static_cast<int64_t>(items.size()), a.has(1) ? std::optional<int64_t>(a.get_int(1, 0)) : std::nullopt,
                    a.has(2) ? std::optional<int64_t>(a.get_int(2, 0)) : std::nullopt, 1, begin, end);
      for (int64_t i = begin; i < end; ++i) {
        if (equals(items[static_cast<size_t>(i)], v)) return Value(i);
      }
      raise(ErrorCategory::kInvalidArgument, "ValueError: ", py_repr(v), " is not in ", type_name(self));
    });
  }
  if (self.is_list()) {
    if (name == "copy") return bound_method("list.copy", [self](CallArgs& args) { expect_no_args("copy", args); return self; });
    if (name == "append" || name == "clear" || name == "extend" || name == "insert" || name == "pop" ||
        name == "remove" || name == "reverse" || name == "sort") {
      return unsafe_attribute(self, name);
    }
  }
  return Value();
}

// The attribute `name` of `obj` by the sandbox's rules; a missing one is undefined.
inline Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) obj.fail_undefined();
  if (!name.empty() && name[0] == '_') return unsafe_attribute(obj, name);
  Value found;
  switch (obj.kind()) {
    case ValueKind::kString: found = string_method(obj, name); break;
    case ValueKind::kDict:
      found = dict_method(obj, name);
      if (found.is_undefined() && !found.undefined_info()) {
        if (const Value* v = obj.as_dict().find(name)) return *v;
      }
      break;
    case ValueKind::kList:
    case ValueKind::kTuple: found = sequence_method(obj, name); break;
    case ValueKind::kNamespace:
      if (const Value* v = obj.as_namespace().attrs.find(name)) return *v;
      break;
    case ValueKind::kLoop: {
      const LoopData& l = obj.as_loop();
      const int64_t n = static_cast<int64_t>(l.items->size());
      const int64_t i = static_cast<int64_t>(l.index0);
      if (name == "index0") return Value(i);
      if (name == "index") return Value(i + 1);
      if (name == "revindex0") return Value(n - i - 1);
      if (name == "revindex") return Value(n - i);
      if (name == "first") return Value(i == 0);
      if (name == "last") return Value(i == n - 1);
      if (name == "length") return Value(n);
      if (name == "depth0") return Value(static_cast<int64_t>(l.depth0));
      if (name == "depth") return Value(static_cast<int64_t>(l.depth0) + 1);
      if (name == "previtem") {
        return i > 0 ? (*l.items)[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item");
      }
      if (name == "nextitem") {
        return i + 1 < n ? (*l.items)[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item");
      }
      if (name == "cycle") {
        return bound_method("loop.cycle", [i](CallArgs& args) {
          if (args.positional.empty()) raise_type_error("TypeError: no items for cycling given");
          return args.positional[static_cast<size_t>(i) % args.positional.size()];
        });
      }
      if (name == "changed") {
        auto last = l.changed_last;
        return bound_method("loop.changed", [last](CallArgs& args) {
          Value current = Value::tuple(args.positional);
          if (!last->is_undefined() && equals(*last, current)) return Value(false);
          *last = std::move(current);
          return Value(true);
        });
      }
      break;
    }
    default: break;
  }
  if (!found.is_undefined() || found.undefined_info()) return found;
  return missing_attribute(obj, name);
}

}  // namespace genarm::chat::detail
