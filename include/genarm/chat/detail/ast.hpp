// The syntax tree of a parsed Jinja template: expressions (Expr) and statements (Node), as
// jinja2's parser builds them (jinja2/nodes.py), each with the byte offset of its first token
// for error positions.
// Ownership: a node owns its children (unique_ptr); a parsed template owns the root.
// Thread-safety: immutable after parsing, thread-safe to read.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "genarm/chat/detail/value.hpp"

namespace genarm::chat::detail {

enum class ExprKind : uint8_t {
  kConst,
  kName,
  kList,
  kTuple,
  kDict,
  kGetAttr,
  kGetItem,
  kSlice,
  kUnary,
  kBinary,
  kConcat,
  kCompare,
  kCondExpr,
  kCall,
  kFilter,
  kTest,
};

struct Expr {
  explicit Expr(ExprKind k, size_t p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  ExprKind kind;
  size_t pos;
};
using ExprPtr = std::unique_ptr<Expr>;

struct ConstExpr : Expr {
  ConstExpr(size_t p, Value v) : Expr(ExprKind::kConst, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(size_t p, std::string n) : Expr(ExprKind::kName, p), name(std::move(n)) {}
  std::string name;
};

// A list or tuple display ([a, b] or (a, b) / a, b).
struct SequenceExpr : Expr {
  SequenceExpr(ExprKind k, size_t p) : Expr(k, p) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(size_t p) : Expr(ExprKind::kDict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetAttrExpr : Expr {
  GetAttrExpr(size_t p, ExprPtr o, std::string n) : Expr(ExprKind::kGetAttr, p), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct GetItemExpr : Expr {
  GetItemExpr(size_t p, ExprPtr o, ExprPtr i) : Expr(ExprKind::kGetItem, p), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;  // a SliceExpr for x[a:b:c]
};

struct SliceExpr : Expr {
  explicit SliceExpr(size_t p) : Expr(ExprKind::kSlice, p) {}
  ExprPtr start, stop, step;  // each may be null
};

enum class UnaryOp : uint8_t { kNeg, kPos, kNot };

struct UnaryExpr : Expr {
  UnaryExpr(size_t p, UnaryOp o, ExprPtr e) : Expr(ExprKind::kUnary, p), op(o), operand(std::move(e)) {}
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kAnd, kOr };

inline std::string_view binary_op_symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "+";
    case BinaryOp::kSub: return "-";
    case BinaryOp::kMul: return "*";
    case BinaryOp::kDiv: return "/";
    case BinaryOp::kFloorDiv: return "//";
    case BinaryOp::kMod: return "%";
    case BinaryOp::kPow: return "** or pow()";
    case BinaryOp::kAnd: return "and";
    case BinaryOp::kOr: return "or";
  }
  return "?";
}

struct BinaryExpr : Expr {
  BinaryExpr(size_t p, BinaryOp o, ExprPtr l, ExprPtr r)
      : Expr(ExprKind::kBinary, p), op(o), left(std::move(l)), right(std::move(r)) {}
  BinaryOp op;
  ExprPtr left, right;
};

// a ~ b ~ c: str() of each, joined.
struct ConcatExpr : Expr {
  explicit ConcatExpr(size_t p) : Expr(ExprKind::kConcat, p) {}
  std::vector<ExprPtr> parts;
};

enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

// a < b <= c: Python's chained comparison.
struct CompareExpr : Expr {
  explicit CompareExpr(size_t p) : Expr(ExprKind::kCompare, p) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

// `a if test else b`; without else, a false test gives an undefined value.
struct CondExpr : Expr {
  explicit CondExpr(size_t p) : Expr(ExprKind::kCondExpr, p) {}
  ExprPtr test, then_expr, else_expr;
};

// The arguments of a call, filter or test: f(a, b, key=c, *args, **kwargs).
struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
  ExprPtr star_args, star_kwargs;
};

struct CallExpr : Expr {
  CallExpr(size_t p, ExprPtr c) : Expr(ExprKind::kCall, p), callee(std::move(c)) {}
  ExprPtr callee;
  Arguments args;
};

// input | name(args); `input` is null for the filter of a {% filter %} or {% set x | f %} block,
// which filters the block's output.
struct FilterExpr : Expr {
  FilterExpr(size_t p, ExprPtr in, std::string n) : Expr(ExprKind::kFilter, p), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;
  std::string name;
  Arguments args;
};

// input is [not] name(args). (`not` is a UnaryExpr around it, as in jinja2.)
struct TestExpr : Expr {
  TestExpr(size_t p, ExprPtr in, std::string n) : Expr(ExprKind::kTest, p), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;
  std::string name;
  Arguments args;
};

// ---- statements -------------------------------------------------------------------------

enum class NodeKind : uint8_t {
  kData,
  kOutput,
  kFor,
  kIf,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kScope,  // {% generation %} (Hugging Face's AssistantTracker) and {% block %}: the body as is
};

struct Node {
  Node(NodeKind k, size_t p) : kind(k), pos(p) {}
  virtual ~Node() = default;
  NodeKind kind;
  size_t pos;
};
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

// An assignment target: a name, a tuple of targets (for a, b in ...), or ns.attr.
struct Target {
  enum class Kind : uint8_t { kName, kTuple, kNamespaceAttr } kind = Kind::kName;
  std::string name;
  std::string attr;
  std::vector<Target> items;
  size_t pos = 0;
};

struct DataNode : Node {
  DataNode(size_t p, std::string t) : Node(NodeKind::kData, p), text(std::move(t)) {}
  std::string text;
};

struct OutputNode : Node {
  OutputNode(size_t p, ExprPtr e) : Node(NodeKind::kOutput, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct ForNode : Node {
  explicit ForNode(size_t p) : Node(NodeKind::kFor, p) {}
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // for x in xs if filter
  Body body, else_body;
};

struct IfNode : Node {
  explicit IfNode(size_t p) : Node(NodeKind::kIf, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, then each elif
  Body else_body;
};

struct SetNode : Node {
  explicit SetNode(size_t p) : Node(NodeKind::kSet, p) {}
  Target target;
  ExprPtr value;
};

struct SetBlockNode : Node {
  explicit SetBlockNode(size_t p) : Node(NodeKind::kSetBlock, p) {}
  Target target;
  ExprPtr filter;  // FilterExpr chain over the body's output, or null
  Body body;
};

// A macro's signature and body, shared by {% macro %} and the caller of {% call %}.
struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  bool uses_varargs = false;  // the body reads `varargs`: extra positional arguments allowed
  bool uses_kwargs = false;   // the body reads `kwargs`: extra keyword arguments allowed
  bool uses_caller = false;
  size_t pos = 0;
};

struct MacroNode : Node {
  explicit MacroNode(size_t p) : Node(NodeKind::kMacro, p) {}
  MacroDef def;
};

struct CallBlockNode : Node {
  explicit CallBlockNode(size_t p) : Node(NodeKind::kCallBlock, p) {}
  MacroDef caller;  // the block's body, callable as caller(args)
  ExprPtr call;     // a CallExpr
};

struct FilterBlockNode : Node {
  explicit FilterBlockNode(size_t p) : Node(NodeKind::kFilterBlock, p) {}
  ExprPtr filter;  // FilterExpr chain whose innermost input is null
  Body body;
};

struct WithNode : Node {
  explicit WithNode(size_t p) : Node(NodeKind::kWith, p) {}
  std::vector<Target> targets;
  std::vector<ExprPtr> values;
  Body body;
};

struct ScopeNode : Node {
  explicit ScopeNode(size_t p) : Node(NodeKind::kScope, p) {}
  Body body;
};

}  // namespace genarm::chat::detail
