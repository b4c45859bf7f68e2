// The values a chat template computes with: Python's object model cut down to what Jinja
// templates see — undefined (jinja2's default Undefined), None, bool, int, float, str (and
// markupsafe's Markup), list, tuple, dict (insertion-ordered, like Python's), jinja2's Namespace,
// callables (macros, builtins, bound methods), the `loop` object of a for loop, and lazy
// sequences (generators, reverse iterators, dict views, ranges).
// Also Python's str() and repr() of them, truthiness, == and < with Python's rules and error
// messages, and the interpreter's internal error type.
// Ownership: a Value shares its payload (strings, containers) by reference count; payloads are
// immutable once built — templates cannot mutate lists or dicts (jinja2's
// ImmutableSandboxedEnvironment forbids it) — except a Namespace, which `{% set ns.x = ... %}`
// changes in place. Thread-safety: a Value is thread-compatible; values shared between threads
// (a parsed template's constants) are only read.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "genarm/chat/detail/py_string.hpp"
#include "genarm/core/error.hpp"

namespace genarm::chat::detail {

// A failure while parsing or rendering a template. `located` is set once the message starts
// with the template position, so that enclosing nodes do not add theirs.
struct TemplateError {
  ErrorCategory category;
  std::string message;
  bool located = false;
};

template <typename... Args>
[[noreturn]] void raise(ErrorCategory category, const Args&... args) {
  throw TemplateError{category, genarm::detail::make_message(args...), false};
}

// Python's TypeError, ValueError, ... at render time: the template and its inputs do not fit.
template <typename... Args>
[[noreturn]] void raise_type_error(const Args&... args) {
  raise(ErrorCategory::kInvalidArgument, args...);
}

// Containers and strings built by template code are bounded (a hostile "x" * 10**12).
inline constexpr size_t kMaxBuiltSize = size_t{256} << 20;  // bytes of a string, or list elements

inline void check_built_size(size_t n, std::string_view what) {
  if (n > kMaxBuiltSize) {
    raise(ErrorCategory::kInvalidArgument, what, " would hold ", n, " elements, more than the limit of ", kMaxBuiltSize);
  }
}

enum class ValueKind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kDict,
  kNamespace,
  kCallable,
  kLoop,
  kIterator,  // a lazy sequence: a generator, a reverse iterator, a dict view, a range
};

class Value;
using ValueList = std::vector<Value>;
struct DictData;
struct NamespaceData;
struct CallableData;
struct LoopData;
struct IteratorData;

// Why a value is undefined, for the error raised when it is used strictly (jinja2's
// "'foo' is undefined", "'dict object' has no attribute 'x'"); `security` marks an attribute
// the sandbox refuses (list.append), whose use is a SecurityError rather than an UndefinedError.
struct UndefinedInfo {
  std::string hint;
  bool security = false;
};

class Value {
 public:
  Value() = default;  // undefined, without a hint
  Value(bool b) : kind_(ValueKind::kBool) { scalar_.b = b; }
  Value(int64_t i) : kind_(ValueKind::kInt) { scalar_.i = i; }
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(size_t i) : Value(static_cast<int64_t>(i)) {}
  Value(double f) : kind_(ValueKind::kFloat) { scalar_.f = f; }
  Value(std::string s) : kind_(ValueKind::kString), obj_(std::make_shared<const std::string>(std::move(s))) {}
  // markupsafe's Markup, a str that `|safe` and `|e` return: adding a plain str to it escapes the
  // str (what autoescaping would have done), and its string methods return Markup.
  static Value markup(std::string s) {
    Value v(std::move(s));
    v.markup_ = true;
    return v;
  }
  Value(const char* s) : Value(std::string(s)) {}
  Value(std::string_view s) : Value(std::string(s)) {}

  static Value none() {
    Value v;
    v.kind_ = ValueKind::kNone;
    return v;
  }
  static Value undefined(std::string hint, bool security = false) {
    Value v;
    v.obj_ = std::make_shared<const UndefinedInfo>(UndefinedInfo{std::move(hint), security});
    return v;
  }
  static Value list(ValueList items) { return sequence(ValueKind::kList, std::move(items)); }
  static Value tuple(ValueList items) { return sequence(ValueKind::kTuple, std::move(items)); }
  static Value dict(std::shared_ptr<const DictData> d) { return object(ValueKind::kDict, std::move(d)); }
  static Value dict(DictData d);
  static Value namespace_(std::shared_ptr<NamespaceData> ns) { return object(ValueKind::kNamespace, std::move(ns)); }
  static Value callable(std::shared_ptr<const CallableData> fn) { return object(ValueKind::kCallable, std::move(fn)); }
  static Value loop(std::shared_ptr<const LoopData> l) { return object(ValueKind::kLoop, std::move(l)); }
  static Value iterator(std::shared_ptr<IteratorData> it) { return object(ValueKind::kIterator, std::move(it)); }

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  // int, float or bool: Python's numbers (bool is an int subclass).
  bool is_number() const { return kind_ == ValueKind::kInt || kind_ == ValueKind::kFloat || kind_ == ValueKind::kBool; }
  // int or bool: what Python accepts where an integer is required.
  bool is_integral() const { return kind_ == ValueKind::kInt || kind_ == ValueKind::kBool; }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }
  bool is_tuple() const { return kind_ == ValueKind::kTuple; }
  bool is_sequence() const { return kind_ == ValueKind::kList || kind_ == ValueKind::kTuple; }
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_namespace() const { return kind_ == ValueKind::kNamespace; }
  bool is_callable() const { return kind_ == ValueKind::kCallable; }
  bool is_loop() const { return kind_ == ValueKind::kLoop; }
  bool is_iterator() const { return kind_ == ValueKind::kIterator; }
  bool is_markup() const { return kind_ == ValueKind::kString && markup_; }

  bool as_bool() const { return scalar_.b; }
  int64_t as_int() const { return kind_ == ValueKind::kBool ? (scalar_.b ? 1 : 0) : scalar_.i; }
  double as_double() const {
    return kind_ == ValueKind::kFloat ? scalar_.f : static_cast<double>(as_int());
  }
  const std::string& as_string() const { return *static_cast<const std::string*>(obj_.get()); }
  const ValueList& as_list() const { return *static_cast<const ValueList*>(obj_.get()); }
  const DictData& as_dict() const { return *static_cast<const DictData*>(obj_.get()); }
  NamespaceData& as_namespace() const {
    return *static_cast<NamespaceData*>(const_cast<void*>(obj_.get()));
  }
  const CallableData& as_callable() const { return *static_cast<const CallableData*>(obj_.get()); }
  const LoopData& as_loop() const { return *static_cast<const LoopData*>(obj_.get()); }
  // Iterators are consumed by iterating them, hence not const.
  IteratorData& as_iterator() const { return *static_cast<IteratorData*>(const_cast<void*>(obj_.get())); }
  const UndefinedInfo* undefined_info() const {
    return kind_ == ValueKind::kUndefined ? static_cast<const UndefinedInfo*>(obj_.get()) : nullptr;
  }
  // The shared payload, for identity (`is sameas`) of containers.
  const void* identity() const { return obj_.get(); }

  // Raises the error jinja2 raises when an undefined value is used strictly (an attribute, an
  // operator, a call): "'foo' is undefined".
  [[noreturn]] void fail_undefined() const {
    const UndefinedInfo* info = undefined_info();
    if (info && info->security) raise(ErrorCategory::kInvalidArgument, "SecurityError: ", info->hint);
    raise(ErrorCategory::kInvalidArgument, "UndefinedError: ",
          info && !info->hint.empty() ? info->hint : std::string("value is undefined"));
  }

 private:
  static Value sequence(ValueKind kind, ValueList items) {
    Value v;
    v.kind_ = kind;
    v.obj_ = std::make_shared<const ValueList>(std::move(items));
    return v;
  }
  template <typename T>
  static Value object(ValueKind kind, std::shared_ptr<T> payload) {
    Value v;
    v.kind_ = kind;
    v.obj_ = std::move(payload);
    return v;
  }

  ValueKind kind_ = ValueKind::kUndefined;
  bool markup_ = false;
  union Scalar {
    bool b;
    int64_t i;
    double f;
  } scalar_{};
  std::shared_ptr<const void> obj_;
};

// A Python dict: items in insertion order, string keys indexed (they are nearly all of them);
// other keys (ints, bools, None, tuples) found by Python equality.
struct DictData {
  std::vector<std::pair<Value, Value>> items;
  std::unordered_map<std::string, size_t> string_index;

  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const {
    const auto it = string_index.find(key);
    return it == string_index.end() ? nullptr : &items[it->second].second;
  }
  // Inserts or replaces (keeping the first position, as Python does).
  void set(Value key, Value value);
  size_t size() const { return items.size(); }
};

// jinja2's Namespace: attributes set with {% set ns.name = value %}, readable from any scope.
struct NamespaceData {
  DictData attrs;
};

// Arguments of a call: positional, then keyword (in call order).
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> named;
};

class Renderer;

// A function a template can call: a builtin (range, namespace, raise_exception), a bound method
// ("text".strip), a macro, or a loop's cycle().
struct CallableData {
  std::string name;  // for messages: "macro 'render_tool'", "str.strip"
  std::function<Value(Renderer&, CallArgs&)> fn;
  bool is_macro = false;
};

// The `loop` of one iteration of a for loop.
struct LoopData {
  std::shared_ptr<const ValueList> items;  // what the loop iterates (after its `if` filter)
  size_t index0 = 0;
  size_t depth0 = 0;
  std::shared_ptr<Value> changed_last;  // loop.changed() state, shared by the iterations
};

// What jinja2's filters (map, select, unique, batch, items, ...) return — generators, consumed
// by the first iteration — and what Python returns for reversed(), dict.items()/keys()/values()
// (views) and range(). They differ from lists where a template can tell: a generator is always
// true, has no len() and is not JSON serializable; views and ranges print as Python prints them.
struct IteratorData {
  enum class Kind : uint8_t { kGenerator, kReverseIterator, kDictItems, kDictKeys, kDictValues, kRange };
  Kind kind = Kind::kGenerator;
  std::string type;  // Python's type name: "generator", "list_reverseiterator", "dict_items", ...
  ValueList items;
  size_t position = 0;                   // one-shot iterators: how many items were taken
  int64_t start = 0, stop = 0, step = 1;  // a range's arguments, for its repr

  // A generator's items are computed when it is first iterated, as Python runs a generator's
  // body (and raises its errors) only then.
  std::function<ValueList()> producer;

  bool one_shot() const { return kind == Kind::kGenerator || kind == Kind::kReverseIterator; }
  void materialize() {
    if (!producer) return;
    auto fn = std::move(producer);
    producer = nullptr;  // a generator that raised is exhausted
    items = fn();
  }
  // The items not yet taken (all of them for views and ranges), marking them taken.
  ValueList take_all() {
    materialize();
    if (!one_shot()) return items;
    ValueList rest(items.begin() + static_cast<std::ptrdiff_t>(position), items.end());
    position = items.size();
    return rest;
  }
};

inline Value make_iterator(IteratorData::Kind kind, std::string type, ValueList items) {
  auto it = std::make_shared<IteratorData>();
  it->kind = kind;
  it->type = std::move(type);
  it->items = std::move(items);
  return Value::iterator(std::move(it));
}

inline Value make_generator(ValueList items) { return make_iterator(IteratorData::Kind::kGenerator, "generator", std::move(items)); }

inline Value make_lazy_generator(std::function<ValueList()> producer) {
  auto it = std::make_shared<IteratorData>();
  it->type = "generator";
  it->producer = std::move(producer);
  return Value::iterator(std::move(it));
}

// ---- Python semantics ---------------------------------------------------------------------

// type(x).__name__, for TypeError messages.
inline std::string_view type_name(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined: return "Undefined";
    case ValueKind::kNone: return "NoneType";
    case ValueKind::kBool: return "bool";
    case ValueKind::kInt: return "int";
    case ValueKind::kFloat: return "float";
    case ValueKind::kString: return v.is_markup() ? "Markup" : "str";
    case ValueKind::kList: return "list";
    case ValueKind::kTuple: return "tuple";
    case ValueKind::kDict: return "dict";
    case ValueKind::kNamespace: return "Namespace";
    case ValueKind::kCallable: return v.as_callable().is_macro ? "Macro" : "builtin_function_or_method";
    case ValueKind::kLoop: return "LoopContext";
    case ValueKind::kIterator: return v.as_iterator().type;
  }
  return "object";
}

// jinja2's object_type_repr: "None" for None, else "<type> object" ("dict object").
inline std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return std::string(type_name(v)) + " object";
}

inline bool truthy(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return false;
    case ValueKind::kBool: return v.as_bool();
    case ValueKind::kInt: return v.as_int() != 0;
    case ValueKind::kFloat: return v.as_double() != 0.0;
    case ValueKind::kString: return !v.as_string().empty();
    case ValueKind::kList:
    case ValueKind::kTuple: return !v.as_list().empty();
    case ValueKind::kDict: return v.as_dict().size() != 0;
    case ValueKind::kIterator: return v.as_iterator().one_shot() || !v.as_iterator().items.empty();
    default: return true;
  }
}

// Python ==. Undefined equals only undefined (jinja2's Undefined.__eq__).
inline bool equals(const Value& a, const Value& b);

inline bool dict_equals(const DictData& a, const DictData& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a.items) {
    const Value* other = b.find(key);
    if (!other || !equals(value, *other)) return false;
  }
  return true;
}

inline bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return true;
    case ValueKind::kString: return a.as_string() == b.as_string();
    case ValueKind::kList:
    case ValueKind::kTuple: {
      const ValueList& x = a.as_list();
      const ValueList& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case ValueKind::kDict: return dict_equals(a.as_dict(), b.as_dict());
    case ValueKind::kIterator: {
      const IteratorData& x = a.as_iterator();
      const IteratorData& y = b.as_iterator();
      if (x.kind == IteratorData::Kind::kRange && y.kind == x.kind) return equals(Value::list(x.items), Value::list(y.items));
      // Key and item views compare as sets; values views (and iterators) only by identity.
      if ((x.kind == IteratorData::Kind::kDictKeys || x.kind == IteratorData::Kind::kDictItems) && y.kind == x.kind) {
        if (x.items.size() != y.items.size()) return false;
        for (const Value& item : x.items) {
          bool found = false;
          for (const Value& other : y.items) found = found || equals(item, other);
          if (!found) return false;
        }
        return true;
      }
      return a.identity() == b.identity();
    }
    default: return a.identity() == b.identity();
  }
}

inline const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(key.as_string());
  for (const auto& [k, v] : items) {
    if (!k.is_string() && equals(k, key)) return &v;
  }
  return nullptr;
}

inline void DictData::set(Value key, Value value) {
  if (key.is_string()) {
    const auto [it, inserted] = string_index.emplace(key.as_string(), items.size());
    if (!inserted) {
      items[it->second].second = std::move(value);
      return;
    }
    items.emplace_back(std::move(key), std::move(value));
    return;
  }
  for (auto& [k, v] : items) {
    if (!k.is_string() && equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

inline Value Value::dict(DictData d) { return dict(std::make_shared<const DictData>(std::move(d))); }

enum class Order : uint8_t { kLt, kLe, kGt, kGe };

inline std::string_view order_symbol(Order op) {
  switch (op) {
    case Order::kLt: return "<";
    case Order::kLe: return "<=";
    case Order::kGt: return ">";
    case Order::kGe: return ">=";
  }
  return "<";
}

template <typename T>
bool apply_order(const T& a, const T& b, Order op) {
  switch (op) {
    case Order::kLt: return a < b;
    case Order::kLe: return a <= b;
    case Order::kGt: return a > b;
    case Order::kGe: return a >= b;
  }
  return false;
}

// Python's < <= > >=: numbers with numbers, str with str (code point order, which UTF-8 byte
// order preserves), lists with lists and tuples with tuples lexicographically; anything else is
// Python's TypeError, and undefined is jinja2's UndefinedError.
inline bool ordered(const Value& a, const Value& b, Order op) {
  if (a.is_undefined()) a.fail_undefined();
  if (b.is_undefined()) b.fail_undefined();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return apply_order(a.as_double(), b.as_double(), op);
    return apply_order(a.as_int(), b.as_int(), op);
  }
  if (a.is_string() && b.is_string()) return apply_order(a.as_string(), b.as_string(), op);
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const ValueList& x = a.as_list();
    const ValueList& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return ordered(x[i], y[i], op);
    }
    return apply_order(x.size(), y.size(), op);
  }
  raise_type_error("TypeError: '", order_symbol(op), "' not supported between instances of '", type_name(a), "' and '",
                   type_name(b), "'");
}

inline bool less_than(const Value& a, const Value& b) { return ordered(a, b, Order::kLt); }

// Python's repr() of a float: the shortest digits that round-trip, in fixed notation when the
// decimal exponent is in [-4, 16), else scientific with a signed two-digit exponent
// ("1e-05", "1e+16", "0.1", "100.0").
inline std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+02"
  bool negative = false;
  if (!sci.empty() && sci[0] == '-') {
    negative = true;
    sci.erase(0, 1);
  }
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
             digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int magnitude = exponent < 0 ? -exponent : exponent;
  out += exponent < 0 ? "e-" : "e+";
  if (magnitude < 10) out += "0";
  out += std::to_string(magnitude);
  return out;
}

inline void append_repr(std::string& out, const Value& v);

// Python's str(): what {{ x }} prints. Undefined prints as nothing (jinja2's default Undefined).
inline void append_str(std::string& out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined: return;
    case ValueKind::kString: out += v.as_string(); return;
    default: append_repr(out, v);
  }
}

inline std::string py_str(const Value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v);
  return out;
}

inline void append_repr(std::string& out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined: out += "Undefined"; return;
    case ValueKind::kNone: out += "None"; return;
    case ValueKind::kBool: out += v.as_bool() ? "True" : "False"; return;
    case ValueKind::kInt: out += std::to_string(v.as_int()); return;
    case ValueKind::kFloat: out += py_float_repr(v.as_double()); return;
    case ValueKind::kString:
      if (v.is_markup()) {
        out += "Markup(" + py_repr_string(v.as_string()) + ")";
      } else {
        out += py_repr_string(v.as_string());
      }
      return;
    case ValueKind::kList:
    case ValueKind::kTuple: {
      const bool tuple = v.is_tuple();
      out += tuple ? "(" : "[";
      const ValueList& items = v.as_list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        append_repr(out, items[i]);
      }
      if (tuple && items.size() == 1) out += ",";
      out += tuple ? ")" : "]";
      return;
    }
    case ValueKind::kDict: {
      out += "{";
      bool first = true;
      for (const auto& [key, value] : v.as_dict().items) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, key);
        out += ": ";
        append_repr(out, value);
      }
      out += "}";
      return;
    }
    case ValueKind::kNamespace: {
      out += "<Namespace {";
      bool first = true;
      for (const auto& [key, value] : v.as_namespace().attrs.items) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, key);
        out += ": ";
        append_repr(out, value);
      }
      out += "}>";
      return;
    }
    case ValueKind::kCallable:
      out += v.as_callable().is_macro ? "<Macro '" + v.as_callable().name + "'>"
                                      : "<built-in function " + v.as_callable().name + ">";
      return;
    case ValueKind::kLoop: {
      const LoopData& l = v.as_loop();
      out += "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.items->size()) + ">";
      return;
    }
    case ValueKind::kIterator: {
      const IteratorData& it = v.as_iterator();
      switch (it.kind) {
        case IteratorData::Kind::kRange:
          out += "range(" + std::to_string(it.start) + ", " + std::to_string(it.stop);
          if (it.step != 1) out += ", " + std::to_string(it.step);
          out += ")";
          return;
        case IteratorData::Kind::kDictItems:
        case IteratorData::Kind::kDictKeys:
        case IteratorData::Kind::kDictValues:
          out += it.type + "(";
          append_repr(out, Value::list(it.items));
          out += ")";
          return;
        default: out += "<" + it.type + " object>"; return;  // Python adds an address
      }
    }
  }
}

inline std::string py_repr(const Value& v) {
  std::string out;
  append_repr(out, v);
  return out;
}

}  // namespace genarm::chat::detail
