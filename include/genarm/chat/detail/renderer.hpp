// The evaluator: executes a parsed template against a context, with jinja2's scoping rules —
//   - {% if %} shares its scope; each for-loop iteration, macro call, {% with %}, call, filter
//     and set block gets a child scope, so `set` inside them does not leak out (the reason
//     templates use namespace());
//   - a macro sees the variables of the scope it was defined in as they are when it is called;
//   - names resolve through the scopes, then the render context, then the globals.
// Limits guard against hostile templates: the output size, loop iterations, macro recursion
// depth, nested evaluation (so the stack: 500 levels stay under 256 KB in a release build) and
// range() length (the sandbox's 100000) are bounded; exceeding one is an error.
// Ownership: a Renderer borrows the template and options for one render() and owns the scopes
// it creates. Thread-safety: one Renderer per render; many can run on one template at once.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "genarm/chat/detail/ast.hpp"
#include "genarm/chat/detail/lexer.hpp"
#include "genarm/chat/detail/operations.hpp"
#include "genarm/chat/detail/py_json.hpp"

namespace genarm::chat {

// Limits and environment for one render.
struct RenderOptions {
  size_t max_output_bytes = size_t{64} << 20;  // the rendered text, and any captured block
  uint64_t max_loop_iterations = 10'000'000;   // all iterations of all loops, per render
  int max_macro_depth = 100;                   // nested macro calls (recursion)
  // Nested evaluation (expressions within statements within macro calls ...): bounds the stack
  // a hostile template can use (deep expressions in a recursive macro).
  int max_eval_depth = 500;
  // The local time strftime_now() formats; unset: the current time. Tests pin it.
  std::optional<std::tm> now;
};

}  // namespace genarm::chat

namespace genarm::chat::detail {

// A scope: the variables set in it, then its parent's. The outermost holds the render context
// (a dict, for fast lookup of many names).
class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  explicit Scope(std::shared_ptr<const DictData> table) : table_(std::move(table)) {}

  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent_.get()) {
      for (const auto& [key, value] : s->vars_) {
        if (key == name) return &value;
      }
      if (s->table_) {
        if (const Value* v = s->table_->find(name)) return v;
      }
    }
    return nullptr;
  }

  void set(const std::string& name, Value value) {
    for (auto& [key, v] : vars_) {
      if (key == name) {
        v = std::move(value);
        return;
      }
    }
    vars_.emplace_back(name, std::move(value));
  }

 private:
  std::vector<std::pair<std::string, Value>> vars_;
  std::shared_ptr<const DictData> table_;
  std::shared_ptr<Scope> parent_;
};
using ScopePtr = std::shared_ptr<Scope>;

using FilterFn = Value (*)(Renderer&, const Value& input, CallArgs& args);
using TestFn = bool (*)(Renderer&, const Value& input, CallArgs& args);
// Defined in builtins.hpp.
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);
const DictData& builtin_globals();

class Renderer {
 public:
  Renderer(const SourceText& source, const RenderOptions& options) : source_(source), options_(options) {}

  std::string render(const Body& body, std::shared_ptr<const DictData> context) {
    auto globals = std::make_shared<Scope>(std::move(context));
    auto root = std::make_shared<Scope>(globals);
    std::string out;
    out_ = &out;
    try {
      exec_body(body, root);
    } catch (...) {
      release_namespaces();
      throw;
    }
    release_namespaces();
    return out;
  }

  // Namespaces are the one mutable value: {% set ns.me = ns %} makes a reference cycle. None
  // outlives the render (its result is text), so their attributes are cleared at the end.
  void track_namespace(const std::shared_ptr<NamespaceData>& ns) {
    if (namespaces_.size() >= 2 * live_namespaces_ + 64) {  // forget the ones already freed
      std::erase_if(namespaces_, [](const std::weak_ptr<NamespaceData>& w) { return w.expired(); });
      live_namespaces_ = namespaces_.size();
    }
    namespaces_.push_back(ns);
  }

  const RenderOptions& options() const { return options_; }

  // ---- services for builtins ----

  Value call(const Value& callee, CallArgs& args) {
    if (callee.is_callable()) return callee.as_callable().fn(*this, args);
    if (callee.is_undefined()) callee.fail_undefined();
    raise_type_error("TypeError: '", type_name(callee), "' object is not callable");
  }

  Value apply_filter(const std::string& name, const Value& input, CallArgs& args) {
    const FilterFn fn = find_filter(name);
    if (!fn) {
      if (is_jinja_filter_name(name)) raise(ErrorCategory::kUnsupported, "the '", name, "' filter is not supported");
      raise(ErrorCategory::kFormat, "TemplateRuntimeError: No filter named '", name, "' found.");
    }
    return fn(*this, input, args);
  }

  bool apply_test(const std::string& name, const Value& input, CallArgs& args) {
    const TestFn fn = find_test(name);
    if (!fn) {
      if (is_jinja_test_name(name)) raise(ErrorCategory::kUnsupported, "the '", name, "' test is not supported");
      raise(ErrorCategory::kFormat, "TemplateRuntimeError: No test named '", name, "' found.");
    }
    return fn(*this, input, args);
  }

  void count_iterations(uint64_t n) {
    iterations_ += n;
    if (iterations_ > options_.max_loop_iterations) {
      raise(ErrorCategory::kInvalidArgument, "the template ran more than ", options_.max_loop_iterations,
            " loop iterations (RenderOptions::max_loop_iterations)");
    }
  }

  void check_size(size_t bytes) const {
    if (bytes > options_.max_output_bytes) {
      raise(ErrorCategory::kInvalidArgument, "the rendered text exceeds ", options_.max_output_bytes,
            " bytes (RenderOptions::max_output_bytes)");
    }
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  void locate(TemplateError& e, size_t pos) const {
    if (!e.located) {
      e.message = source_.position(pos) + ": " + e.message;
      e.located = true;
    }
  }

  void emit(std::string_view text) {
    check_size(out_->size() + text.size());
    out_->append(text);
  }

  // Runs `body` in `scope`, writing to a fresh buffer, and returns what it wrote.
  std::string capture(const Body& body, const ScopePtr& scope) {
    std::string buffer;
    std::string* saved = out_;
    out_ = &buffer;
    try {
      exec_body(body, scope);
    } catch (...) {
      out_ = saved;
      throw;
    }
    out_ = saved;
    return buffer;
  }

  // ---- statements ----

  Flow exec_body(const Body& body, const ScopePtr& scope) {
    for (const NodePtr& node : body) {
      const Flow f = exec(*node, scope);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  // Counts nested exec/eval calls against RenderOptions::max_eval_depth.
  struct EvalDepth {
    explicit EvalDepth(Renderer& r) : renderer(r) {
      if (++renderer.eval_depth_ > renderer.options_.max_eval_depth) {
        --renderer.eval_depth_;
        raise(ErrorCategory::kInvalidArgument, "the template nests evaluation deeper than ",
              renderer.options_.max_eval_depth, " levels (RenderOptions::max_eval_depth)");
      }
    }
    ~EvalDepth() { --renderer.eval_depth_; }
    Renderer& renderer;
  };

  Flow exec(const Node& node, const ScopePtr& scope) {
    EvalDepth depth(*this);
    try {
      return exec_inner(node, scope);
    } catch (TemplateError& e) {
      locate(e, node.pos);
      throw;
    }
  }

  Flow exec_inner(const Node& node, const ScopePtr& scope) {
    switch (node.kind) {
      case NodeKind::kData: emit(static_cast<const DataNode&>(node).text); return Flow::kNormal;
      case NodeKind::kOutput: {
        const Value v = eval(*static_cast<const OutputNode&>(node).expr, *scope);
        if (v.is_string()) {
          emit(v.as_string());
        } else {
          std::string text;
          append_str(text, v);
          emit(text);
        }
        return Flow::kNormal;
      }
      case NodeKind::kIf: {
        const auto& n = static_cast<const IfNode&>(node);
        for (const auto& [test, body] : n.branches) {
          if (truthy(eval(*test, *scope))) return exec_body(body, scope);
        }
        return exec_body(n.else_body, scope);
      }
      case NodeKind::kFor: return exec_for(static_cast<const ForNode&>(node), scope);
      case NodeKind::kSet: {
        const auto& n = static_cast<const SetNode&>(node);
        assign(n.target, eval(*n.value, *scope), *scope);
        return Flow::kNormal;
      }
      case NodeKind::kSetBlock: {
        const auto& n = static_cast<const SetBlockNode&>(node);
        Value text(capture(n.body, std::make_shared<Scope>(scope)));
        if (n.filter) text = eval_filter_chain(*n.filter, *scope, text);
        assign(n.target, std::move(text), *scope);
        return Flow::kNormal;
      }
      case NodeKind::kMacro: {
        const auto& n = static_cast<const MacroNode&>(node);
        scope->set(n.def.name, make_macro(n.def, scope));
        return Flow::kNormal;
      }
      case NodeKind::kCallBlock: {
        const auto& n = static_cast<const CallBlockNode&>(node);
        const auto& call = static_cast<const CallExpr&>(*n.call);
        Value callee = eval(*call.callee, *scope);
        CallArgs args = eval_args(call.args, *scope);
        args.named.emplace_back("caller", make_macro(n.caller, scope));
        const Value result = call_at(call, callee, args);
        emit(py_str(result));
        return Flow::kNormal;
      }
      case NodeKind::kFilterBlock: {
        const auto& n = static_cast<const FilterBlockNode&>(node);
        const Value text(capture(n.body, std::make_shared<Scope>(scope)));
        emit(py_str(eval_filter_chain(*n.filter, *scope, text)));
        return Flow::kNormal;
      }
      case NodeKind::kWith: {
        const auto& n = static_cast<const WithNode&>(node);
        auto inner = std::make_shared<Scope>(scope);
        std::vector<Value> values;
        for (const ExprPtr& v : n.values) values.push_back(eval(*v, *scope));
        for (size_t i = 0; i < n.targets.size(); ++i) assign(n.targets[i], values[i], *inner);
        exec_body(n.body, inner);
        return Flow::kNormal;
      }
      case NodeKind::kScope: {
        const auto& n = static_cast<const ScopeNode&>(node);
        exec_body(n.body, std::make_shared<Scope>(scope));
        return Flow::kNormal;
      }
      case NodeKind::kBreak: return Flow::kBreak;
      case NodeKind::kContinue: return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  Flow exec_for(const ForNode& n, const ScopePtr& scope) {
    ValueList items;
    const Value iterable = eval(*n.iter, *scope);
    try {
      items = iterate(iterable);
    } catch (TemplateError& e) {
      locate(e, n.iter->pos);
      throw;
    }
    if (n.filter) {
      ValueList kept;
      for (const Value& item : items) {
        count_iterations(1);
        Scope probe(scope);
        assign(n.target, item, probe);
        if (truthy(eval(*n.filter, probe))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      exec_body(n.else_body, std::make_shared<Scope>(scope));
      return Flow::kNormal;
    }
    const auto shared = std::make_shared<const ValueList>(std::move(items));
    const auto changed = std::make_shared<Value>();
    for (size_t i = 0; i < shared->size(); ++i) {
      count_iterations(1);
      auto iteration = std::make_shared<Scope>(scope);
      auto loop = std::make_shared<LoopData>();
      loop->items = shared;
      loop->index0 = i;
      loop->changed_last = changed;
      iteration->set("loop", Value::loop(std::move(loop)));
      assign(n.target, (*shared)[i], *iteration);
      if (exec_body(n.body, iteration) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  void assign(const Target& t, Value value, Scope& scope) {
    switch (t.kind) {
      case Target::Kind::kName: scope.set(t.name, std::move(value)); return;
      case Target::Kind::kTuple: {
        ValueList parts = iterate(value);
        if (parts.size() < t.items.size()) {
          raise(ErrorCategory::kInvalidArgument, "ValueError: not enough values to unpack (expected ", t.items.size(),
                ", got ", parts.size(), ")");
        }
        if (parts.size() > t.items.size()) {
          raise(ErrorCategory::kInvalidArgument, "ValueError: too many values to unpack (expected ", t.items.size(), ")");
        }
        for (size_t i = 0; i < parts.size(); ++i) assign(t.items[i], std::move(parts[i]), scope);
        return;
      }
      case Target::Kind::kNamespaceAttr: {
        const Value* ns = scope.find(t.name);
        if (!ns || !ns->is_namespace()) {
          raise(ErrorCategory::kInvalidArgument, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
        }
        ns->as_namespace().attrs.set(Value(t.attr), std::move(value));
        return;
      }
    }
  }

  // ---- macros ----

  Value make_macro(const MacroDef& def, const ScopePtr& closure) {
    auto data = std::make_shared<CallableData>();
    data->name = def.name;
    data->is_macro = true;
    const MacroDef* d = &def;
    // A weak reference: the scope may hold this macro, and a strong one would be a cycle.
    std::weak_ptr<Scope> weak = closure;
    data->fn = [d, weak](Renderer& r, CallArgs& args) {
      const ScopePtr scope = weak.lock();
      if (!scope) {
        raise(ErrorCategory::kUnsupported, "macro '", d->name,
              "' called after the block that defined it ended (stored in a namespace?)");
      }
      return r.call_macro(*d, scope, args);
    };
    return Value::callable(std::move(data));
  }

  Value call_macro(const MacroDef& def, const ScopePtr& closure, CallArgs& args) {
    if (call_depth_ >= options_.max_macro_depth) {
      raise(ErrorCategory::kInvalidArgument, "macro '", def.name, "' nested deeper than ", options_.max_macro_depth,
            " calls (RenderOptions::max_macro_depth)");
    }
    struct Depth {
      explicit Depth(int& d) : depth(d) { ++depth; }
      ~Depth() { --depth; }
      int& depth;
    } depth(call_depth_);
    auto scope = std::make_shared<Scope>(closure);
    const size_t count = def.params.size();
    std::vector<std::optional<Value>> bound(count);
    for (size_t i = 0; i < count && i < args.positional.size(); ++i) bound[i] = args.positional[i];
    std::vector<std::pair<std::string, Value>> rest;
    std::optional<Value> caller;
    for (auto& [key, value] : args.named) {
      bool matched = false;
      if (args.positional.size() < count) {
        for (size_t i = args.positional.size(); i < count; ++i) {
          if (def.params[i] == key) {
            bound[i] = value;
            matched = true;
          }
        }
      }
      if (matched) continue;
      if (key == "caller" && def.uses_caller && !caller) {
        caller = value;
        continue;
      }
      rest.emplace_back(key, value);
    }
    if (!rest.empty() && !def.uses_kwargs) {
      if (rest.front().first == "caller") {
        raise_type_error("TypeError: macro '", def.name,
                         "' was invoked with two values for the special caller argument. This is most likely a bug.");
      }
      raise_type_error("TypeError: macro '", def.name, "' takes no keyword argument '", rest.front().first, "'");
    }
    if (args.positional.size() > count && !def.uses_varargs) {
      raise_type_error("TypeError: macro '", def.name, "' takes not more than ", count, " argument(s)");
    }
    const size_t first_default = count - def.defaults.size();
    for (size_t i = 0; i < count; ++i) {
      if (bound[i]) {
        scope->set(def.params[i], std::move(*bound[i]));
      } else if (i >= first_default) {
        scope->set(def.params[i], eval(*def.defaults[i - first_default], *scope));
      } else {
        scope->set(def.params[i], Value::undefined("parameter '" + def.params[i] + "' was not provided"));
      }
    }
    if (def.uses_caller) scope->set("caller", caller ? *caller : Value::undefined("No caller defined"));
    if (def.uses_varargs) {
      ValueList extra;
      for (size_t i = count; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
      scope->set("varargs", Value::tuple(std::move(extra)));
    }
    if (def.uses_kwargs) {
      DictData kw;
      for (auto& [key, value] : rest) kw.set(Value(key), value);
      scope->set("kwargs", Value::dict(std::move(kw)));
    }
    return Value(capture(def.body, scope));
  }

  // ---- expressions ----

  Value eval(const Expr& e, const Scope& scope) {
    EvalDepth depth(*this);
    try {
      return eval_inner(e, scope);
    } catch (TemplateError& err) {
      locate(err, e.pos);
      throw;
    }
  }

  // A Scope& that builtins and children can extend: expressions only read, except through
  // namespaces (which are shared objects), so a const scope is enough.
  Value eval_inner(const Expr& e, const Scope& scope) {
    switch (e.kind) {
      case ExprKind::kConst: return static_cast<const ConstExpr&>(e).value;
      case ExprKind::kName: {
        const auto& n = static_cast<const NameExpr&>(e);
        if (const Value* v = scope.find(n.name)) return *v;
        if (const Value* g = builtin_globals().find(n.name)) return *g;
        return Value::undefined("'" + n.name + "' is undefined");
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        const auto& n = static_cast<const SequenceExpr&>(e);
        ValueList items;
        items.reserve(n.items.size());
        for (const ExprPtr& item : n.items) items.push_back(eval(*item, scope));
        return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case ExprKind::kDict: {
        const auto& n = static_cast<const DictExpr&>(e);
        DictData d;
        for (const auto& [k, v] : n.items) {
          Value key = eval(*k, scope);
          if (!is_hashable(key)) raise_type_error("TypeError: unhashable type: '", type_name(key), "'");
          d.set(std::move(key), eval(*v, scope));
        }
        return Value::dict(std::move(d));
      }
      case ExprKind::kGetAttr: {
        const auto& n = static_cast<const GetAttrExpr&>(e);
        return get_attr(eval(*n.object, scope), n.name);
      }
      case ExprKind::kGetItem: {
        const auto& n = static_cast<const GetItemExpr&>(e);
        Value obj = eval(*n.object, scope);
        if (n.index->kind == ExprKind::kSlice) {
          const auto& s = static_cast<const SliceExpr&>(*n.index);
          const auto part = [&](const ExprPtr& p) { return p ? eval(*p, scope) : Value::none(); };
          return slice_value(obj, part(s.start), part(s.stop), part(s.step));
        }
        return get_item(obj, eval(*n.index, scope));
      }
      case ExprKind::kSlice: raise(ErrorCategory::kFormat, "a slice is only valid inside []");
      case ExprKind::kUnary: {
        const auto& n = static_cast<const UnaryExpr&>(e);
        const Value v = eval(*n.operand, scope);
        switch (n.op) {
          case UnaryOp::kNot: return Value(!truthy(v));
          case UnaryOp::kNeg: return unary_minus(v);
          case UnaryOp::kPos: return unary_plus(v);
        }
        return v;
      }
      case ExprKind::kBinary: {
        const auto& n = static_cast<const BinaryExpr&>(e);
        if (n.op == BinaryOp::kAnd) {
          Value left = eval(*n.left, scope);
          return truthy(left) ? eval(*n.right, scope) : left;
        }
        if (n.op == BinaryOp::kOr) {
          Value left = eval(*n.left, scope);
          return truthy(left) ? left : eval(*n.right, scope);
        }
        const Value left = eval(*n.left, scope);
        const Value right = eval(*n.right, scope);
        char code = '+';
        switch (n.op) {
          case BinaryOp::kAdd: code = '+'; break;
          case BinaryOp::kSub: code = '-'; break;
          case BinaryOp::kMul: code = '*'; break;
          case BinaryOp::kDiv: code = '/'; break;
          case BinaryOp::kFloorDiv: code = 'f'; break;
          case BinaryOp::kMod: code = '%'; break;
          case BinaryOp::kPow: code = 'p'; break;
          default: break;
        }
        Value result = binary_arith(code, binary_op_symbol(n.op), left, right);
        if (result.is_string()) check_size(result.as_string().size());
        return result;
      }
      case ExprKind::kConcat: {
        const auto& n = static_cast<const ConcatExpr&>(e);
        std::string out;
        for (const ExprPtr& part : n.parts) {
          append_str(out, eval(*part, scope));
          check_size(out.size());
        }
        return Value(std::move(out));
      }
      case ExprKind::kCompare: return eval_compare(static_cast<const CompareExpr&>(e), scope);
      case ExprKind::kCondExpr: {
        const auto& n = static_cast<const CondExpr&>(e);
        if (truthy(eval(*n.test, scope))) return eval(*n.then_expr, scope);
        if (n.else_expr) return eval(*n.else_expr, scope);
        return Value::undefined("the inline if-expression on line " + line_of(e.pos) +
                                " evaluated to false and no else section was defined.");
      }
      case ExprKind::kCall: {
        const auto& n = static_cast<const CallExpr&>(e);
        Value callee = eval(*n.callee, scope);
        CallArgs args = eval_args(n.args, scope);
        return call_at(n, callee, args);
      }
      case ExprKind::kFilter: {
        const auto& n = static_cast<const FilterExpr&>(e);
        return eval_filter_chain(n, scope, Value());
      }
      case ExprKind::kTest: {
        const auto& n = static_cast<const TestExpr&>(e);
        const Value input = eval(*n.input, scope);
        CallArgs args = eval_args(n.args, scope);
        return Value(apply_test(n.name, input, args));
      }
    }
    raise(ErrorCategory::kInternal, "unknown expression");
  }

  std::string line_of(size_t pos) const {
    const std::string p = source_.position(pos);
    return p.substr(0, p.find(':'));
  }

  Value call_at(const CallExpr&, const Value& callee, CallArgs& args) { return call(callee, args); }

  // A filter node: its input is the next node down, or `block_input` at the bottom of the
  // chain of a filter or set block.
  Value eval_filter_chain(const Expr& e, const Scope& scope, const Value& block_input) {
    if (e.kind != ExprKind::kFilter) return eval(e, scope);
    const auto& n = static_cast<const FilterExpr&>(e);
    try {
      const Value input = n.input ? eval_filter_chain(*n.input, scope, block_input) : block_input;
      CallArgs args = eval_args(n.args, scope);
      Value result = apply_filter(n.name, input, args);
      if (result.is_string()) check_size(result.as_string().size());
      return result;
    } catch (TemplateError& err) {
      locate(err, n.pos);
      throw;
    }
  }

  CallArgs eval_args(const Arguments& a, const Scope& scope) {
    CallArgs args;
    args.positional.reserve(a.positional.size());
    for (const ExprPtr& p : a.positional) args.positional.push_back(eval(*p, scope));
    if (a.star_args) {
      for (Value& v : iterate(eval(*a.star_args, scope))) args.positional.push_back(std::move(v));
    }
    for (const auto& [key, expr] : a.named) args.named.emplace_back(key, eval(*expr, scope));
    if (a.star_kwargs) {
      const Value kw = eval(*a.star_kwargs, scope);
      if (!kw.is_dict()) raise_type_error("TypeError: argument after ** must be a mapping, not ", type_name(kw));
      for (const auto& [k, v] : kw.as_dict().items) {
        if (!k.is_string()) raise_type_error("TypeError: keywords must be strings");
        args.named.emplace_back(k.as_string(), v);
      }
    }
    return args;
  }

  Value eval_compare(const CompareExpr& n, const Scope& scope) {
    Value left = eval(*n.first, scope);
    for (const auto& [op, expr] : n.rest) {
      Value right = eval(*expr, scope);
      bool ok = false;
      switch (op) {
        case CompareOp::kEq: ok = equals(left, right); break;
        case CompareOp::kNe: ok = !equals(left, right); break;
        case CompareOp::kLt: ok = ordered(left, right, Order::kLt); break;
        case CompareOp::kGt: ok = ordered(left, right, Order::kGt); break;
        case CompareOp::kLe: ok = ordered(left, right, Order::kLe); break;
        case CompareOp::kGe: ok = ordered(left, right, Order::kGe); break;
        case CompareOp::kIn: ok = contains(right, left); break;
        case CompareOp::kNotIn: ok = !contains(right, left); break;
      }
      if (!ok) return Value(false);
      left = std::move(right);
    }
    return Value(true);
  }

  void release_namespaces() {
    for (const auto& weak : namespaces_) {
      if (const auto ns = weak.lock()) {
        DictData empty;
        std::swap(ns->attrs, empty);  // destroyed here, after ns->attrs is consistent again
      }
    }
    namespaces_.clear();
  }

  const SourceText& source_;
  const RenderOptions& options_;
  std::vector<std::weak_ptr<NamespaceData>> namespaces_;
  size_t live_namespaces_ = 0;
  std::string* out_ = nullptr;
  uint64_t iterations_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
};

// str.format's {0.attr} / {0[key]} lookups go through the sandbox's rules.
inline Value format_get_attr(const Value& object, const std::string& name) {
  Value v = get_attr(object, name);
  if (v.undefined_info() && v.undefined_info()->security) v.fail_undefined();
  return v;
}
inline Value format_get_item(const Value& object, const Value& key) { return get_item(object, key); }

}  // namespace genarm::chat::detail

#include "genarm/chat/detail/builtins.hpp"
