// The Jinja parser: tokens -> syntax tree, following jinja2's grammar (jinja2/parser.py) and
// its operator precedence, lowest first:
//   a if b else c;  or;  and;  not;  == != < <= > >= in, not in (chained);  + -;  ~;
//   * / // %;  **;  unary - +;  then postfix .attr [index] [a:b:c] (call), and | filter,
//   is test, which bind tighter than any operator ("a ~ b | trim" trims b only).
// Statements: if/elif/else, for (with tuple targets, `if` filter and else), set (also
// namespace attributes and block set), macro, call blocks, filter blocks, with, raw, break
// and continue (Hugging Face enables jinja2.ext.loopcontrols), generation (Hugging Face's
// AssistantTracker tag), block, print. extends/include/import/from and autoescape are
// refused with kUnsupported: Hugging Face renders a single template without a loader.
// Hostile input is bounded: nesting deeper than kMaxNesting levels is an error, not a stack
// overflow.
// Thread-safety: a Parser is used by one thread; the tree it returns is immutable.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "genarm/chat/detail/ast.hpp"
#include "genarm/chat/detail/lexer.hpp"

namespace genarm::chat::detail {

// Nested expressions and blocks beyond this depth are refused (real templates stay below 20).
inline constexpr int kMaxNesting = 100;

// jinja2's built-in filter names (and Hugging Face's tojson): a name outside this set is a
// syntax error where jinja2 reports one at compile time.
inline bool is_jinja_filter_name(std::string_view name) {
  static const std::unordered_set<std::string_view> kNames = {
      "abs",       "attr",     "batch",  "capitalize", "center",     "count",       "d",        "default",
      "dictsort",  "e",        "escape", "filesizeformat", "first",  "float",       "forceescape", "format",
      "groupby",   "indent",   "int",    "join",       "last",       "length",      "list",     "lower",
      "items",     "map",      "min",    "max",        "pprint",     "random",      "reject",   "rejectattr",
      "replace",   "reverse",  "round",  "safe",       "select",     "selectattr",  "slice",    "sort",
      "string",    "striptags", "sum",   "title",      "trim",       "truncate",    "unique",   "upper",
      "urlencode", "urlize",   "wordcount", "wordwrap", "xmlattr",   "tojson"};
  return kNames.count(name) != 0;
}

inline bool is_jinja_test_name(std::string_view name) {
  static const std::unordered_set<std::string_view> kNames = {
      "odd",     "even",    "divisibleby", "defined",  "undefined", "filter",   "test",    "none",
      "boolean", "false",   "true",        "integer",  "float",     "lower",    "upper",   "string",
      "mapping", "number",  "sequence",    "iterable", "callable",  "sameas",   "escaped", "in",
      "==",      "eq",      "equalto",     "!=",       "ne",        ">",        "gt",      "greaterthan",
      "ge",      ">=",      "<",           "lt",       "lessthan",  "<=",       "le"};
  return kNames.count(name) != 0;
}

class Parser {
 public:
  Parser(const SourceText& source, std::vector<Token> tokens) : source_(source), tokens_(std::move(tokens)) {}

  Body parse() {
    Body body = subparse({});
    if (current().type != TokenType::kEof) fail_here("unexpected " + quote(describe_token(current())));
    // jinja2 reports unknown filters and tests at compile time, after parsing, except in a
    // conditional (if, or a conditional expression), where they fail only if they run.
    for (const Unknown& u : unknown_) {
      if (!u.soft) fail_at(u.pos, std::string("no ") + (u.filter ? "filter" : "test") + " named '" + u.name + "'");
    }
    return body;
  }

 private:
  // ---- token stream ----
  const Token& current() const { return tokens_[index_]; }
  const Token& peek(size_t ahead = 1) const {
    return tokens_[std::min(index_ + ahead, tokens_.size() - 1)];
  }
  const Token& advance() {
    const Token& t = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return t;
  }
  bool skip_name(std::string_view name) {
    if (!current().is_name(name)) return false;
    advance();
    return true;
  }
  bool skip_op(std::string_view op) {
    if (!current().is_op(op)) return false;
    advance();
    return true;
  }

  static std::string quote(const std::string& s) { return "'" + s + "'"; }

  [[noreturn]] void fail_at(size_t pos, const std::string& what, ErrorCategory category = ErrorCategory::kFormat) const {
    throw TemplateError{category, source_.position(pos) + ": " + what, true};
  }
  [[noreturn]] void fail_here(const std::string& what) const { fail_at(current().pos, what); }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) fail_here("expected '" + std::string(op) + "', got " + quote(describe_token(current())));
  }
  const Token& expect_name() {
    if (current().type != TokenType::kName) fail_here("expected a name, got " + quote(describe_token(current())));
    return advance();
  }
  void expect(TokenType type, const char* what) {
    if (current().type != type) fail_here(std::string("expected '") + what + "', got " + quote(describe_token(current())));
    advance();
  }
  void expect_block_end() { expect(TokenType::kBlockEnd, "end of statement block"); }

  struct DepthGuard {
    DepthGuard(Parser& p, size_t pos) : parser(p) {
      if (++parser.depth_ > kMaxNesting) {
        parser.fail_at(pos, "template nested deeper than " + std::to_string(kMaxNesting) + " levels",
                       ErrorCategory::kInvalidArgument);
      }
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  // A soft frame (jinja2's term): directly inside an if or a conditional expression, where an
  // unknown filter or test is an error only if it runs.
  struct SoftGuard {
    SoftGuard(Parser& p, bool soft) : parser(p), saved(p.soft_) { parser.soft_ = soft; }
    ~SoftGuard() { parser.soft_ = saved; }
    Parser& parser;
    bool saved;
  };

  // ---- statements ----

  // Template data and tags until a block tag named in `end_tags` (left as the current token,
  // after its {%), or the end of the template.
  Body subparse(const std::vector<std::string_view>& end_tags) {
    DepthGuard guard(*this, current().pos);
    Body body;
    while (current().type != TokenType::kEof) {
      const Token& t = current();
      if (t.type == TokenType::kData) {
        body.push_back(std::make_unique<DataNode>(t.pos, t.text));
        advance();
      } else if (t.type == TokenType::kVarBegin) {
        const size_t pos = advance().pos;
        ExprPtr e = parse_tuple(/*with_condexpr=*/true, {});
        expect(TokenType::kVarEnd, "end of print statement");
        body.push_back(std::make_unique<OutputNode>(pos, std::move(e)));
      } else if (t.type == TokenType::kBlockBegin) {
        advance();
        if (current().type == TokenType::kName &&
            std::find(end_tags.begin(), end_tags.end(), current().text) != end_tags.end()) {
          return body;
        }
        parse_statement(body, end_tags);
        expect_block_end();
      } else {
        fail_here("unexpected " + quote(describe_token(t)));
      }
    }
    if (!end_tags.empty()) {
      std::string expected;
      for (size_t i = 0; i < end_tags.size(); ++i) expected += (i ? " or '" : "'") + std::string(end_tags[i]) + "'";
      fail_at(current().pos, "unexpected end of template, expected " + expected +
                                 (tag_stack_.empty() ? "" : " to close the '" + tag_stack_.back().first +
                                                                "' tag at " + source_.position(tag_stack_.back().second)));
    }
    return body;
  }

  // Parses statements until one of `end_tags`; leaves the end tag's name current unless `drop`.
  Body parse_statements(const std::vector<std::string_view>& end_tags, bool drop) {
    skip_op(":");
    expect_block_end();
    Body body = subparse(end_tags);
    if (drop) advance();
    return body;
  }

  void parse_statement(Body& out, const std::vector<std::string_view>& enclosing_end_tags) {
    const Token& t = current();
    if (t.type != TokenType::kName) fail_here("tag name expected");
    const std::string tag = t.text;
    const size_t pos = t.pos;
    tag_stack_.emplace_back(tag, pos);
    struct Pop {
      ~Pop() { stack.pop_back(); }
      std::vector<std::pair<std::string, size_t>>& stack;
    } pop{tag_stack_};
    if (tag == "if") return out.push_back(parse_if());
    if (tag == "for") return out.push_back(parse_for());
    if (tag == "set") return out.push_back(parse_set());
    if (tag == "macro") return out.push_back(parse_macro());
    if (tag == "call") return out.push_back(parse_call_block());
    if (tag == "filter") return out.push_back(parse_filter_block());
    if (tag == "with") return out.push_back(parse_with());
    if (tag == "print") {  // {% print a, b %}: each expression printed in turn
      advance();
      do {
        const size_t expr_pos = current().pos;
        out.push_back(std::make_unique<OutputNode>(expr_pos, parse_expression(true)));
      } while (skip_op(","));
      return;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_at(pos, "'" + tag + "' outside of a for loop");
      advance();
      return out.push_back(std::make_unique<Node>(tag == "break" ? NodeKind::kBreak : NodeKind::kContinue, pos));
    }
    if (tag == "generation" || tag == "block") {
      advance();
      auto node = std::make_unique<ScopeNode>(pos);
      if (tag == "block") {
        expect_name();
        skip_name("scoped");
        skip_name("required");
        node->body = parse_statements({"endblock"}, true);
        if (current().type == TokenType::kName) advance();  // {% endblock name %}
      } else {
        node->body = parse_statements({"endgeneration"}, true);
      }
      return out.push_back(std::move(node));
    }
    if (tag == "extends" || tag == "include" || tag == "import" || tag == "from" || tag == "autoescape") {
      fail_at(pos, "the '" + tag + "' tag is not supported (chat templates are rendered on their own)",
              ErrorCategory::kUnsupported);
    }
    std::string msg = "unknown tag '" + tag + "'";
    if (!enclosing_end_tags.empty()) {
      msg += ", expected ";
      for (size_t i = 0; i < enclosing_end_tags.size(); ++i) {
        msg += (i ? " or '" : "'") + std::string(enclosing_end_tags[i]) + "'";
      }
    }
    fail_at(pos, msg);
  }

  NodePtr parse_if() {
    auto node = std::make_unique<IfNode>(advance().pos);
    SoftGuard soft(*this, true);
    while (true) {
      ExprPtr test = parse_tuple(/*with_condexpr=*/false, {});
      Body body = parse_statements({"elif", "else", "endif"}, false);
      node->branches.emplace_back(std::move(test), std::move(body));
      const std::string tag = advance().text;
      if (tag == "elif") continue;
      if (tag == "else") node->else_body = parse_statements({"endif"}, true);
      break;
    }
    return node;
  }

  NodePtr parse_for() {
    auto node = std::make_unique<ForNode>(advance().pos);
    node->target = parse_assign_target(/*extra_end=*/"in");
    if (!skip_name("in")) fail_here("expected 'in', got " + quote(describe_token(current())));
    node->iter = parse_tuple(/*with_condexpr=*/false, {"recursive"});
    if (skip_name("if")) node->filter = parse_expression(true);
    if (current().is_name("recursive")) {
      fail_at(current().pos, "recursive for loops are not supported", ErrorCategory::kUnsupported);
    }
    SoftGuard soft(*this, false);
    ++loop_depth_;
    node->body = parse_statements({"endfor", "else"}, false);
    --loop_depth_;
    if (advance().text == "else") node->else_body = parse_statements({"endfor"}, true);
    return node;
  }

  NodePtr parse_set() {
    const size_t pos = advance().pos;
    Target target;
    if (current().type == TokenType::kName && peek().is_op(".")) {
      target.kind = Target::Kind::kNamespaceAttr;
      target.pos = current().pos;
      target.name = advance().text;
      advance();  // .
      target.attr = expect_name().text;
    } else {
      target = parse_assign_target("");
    }
    if (skip_op("=")) {
      auto node = std::make_unique<SetNode>(pos);
      node->target = std::move(target);
      node->value = parse_tuple(true, {});
      return node;
    }
    auto node = std::make_unique<SetBlockNode>(pos);
    node->target = std::move(target);
    if (current().is_op("|")) node->filter = parse_filter(nullptr, false);
    SoftGuard soft(*this, false);
    node->body = parse_statements({"endset"}, true);
    return node;
  }

  void parse_signature(MacroDef& def) {
    expect_op("(");
    while (!current().is_op(")")) {
      if (!def.params.empty()) expect_op(",");
      if (current().is_op(")")) break;
      const Token& name = expect_name();
      def.params.push_back(name.text);
      if (skip_op("=")) {
        def.defaults.push_back(parse_expression(true));
      } else if (!def.defaults.empty()) {
        fail_at(name.pos, "non-default argument follows default argument");
      }
    }
    expect_op(")");
  }

  // The body of a macro or caller, noting whether it reads varargs, kwargs or caller.
  void parse_macro_body(MacroDef& def, std::string_view end_tag) {
    SoftGuard soft(*this, false);
    names_stack_.emplace_back();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    def.body = parse_statements({end_tag}, true);
    loop_depth_ = saved_loop_depth;
    const std::set<std::string> names = std::move(names_stack_.back());
    names_stack_.pop_back();
    def.uses_varargs = names.count("varargs") != 0;
    def.uses_kwargs = names.count("kwargs") != 0;
    def.uses_caller = names.count("caller") != 0;
    // Names a nested macro reads are read by this one too (for the enclosing body's bookkeeping).
    if (!names_stack_.empty()) names_stack_.back().insert(names.begin(), names.end());
  }

  NodePtr parse_macro() {
    auto node = std::make_unique<MacroNode>(advance().pos);
    node->def.pos = node->pos;
    node->def.name = expect_name().text;
    parse_signature(node->def);
    parse_macro_body(node->def, "endmacro");
    return node;
  }

  NodePtr parse_call_block() {
    auto node = std::make_unique<CallBlockNode>(advance().pos);
    node->caller.name = "caller";
    node->caller.pos = node->pos;
    if (current().is_op("(")) parse_signature(node->caller);
    const size_t call_pos = current().pos;
    node->call = parse_expression(true);
    if (node->call->kind != ExprKind::kCall) fail_at(call_pos, "expected a call after 'call'");
    parse_macro_body(node->caller, "endcall");
    return node;
  }

  NodePtr parse_filter_block() {
    auto node = std::make_unique<FilterBlockNode>(advance().pos);
    node->filter = parse_filter(nullptr, true);
    SoftGuard soft(*this, false);
    node->body = parse_statements({"endfilter"}, true);
    return node;
  }

  NodePtr parse_with() {
    auto node = std::make_unique<WithNode>(advance().pos);
    while (current().type != TokenType::kBlockEnd) {
      if (!node->targets.empty()) expect_op(",");
      Target t = parse_assign_target("");
      expect_op("=");
      node->targets.push_back(std::move(t));
      node->values.push_back(parse_expression(true));
    }
    SoftGuard soft(*this, false);
    node->body = parse_statements({"endwith"}, true);
    return node;
  }

  // A name or a (possibly parenthesized) tuple of names: the target of for / set / with.
  Target parse_assign_target(std::string_view extra_end) {
    Target t;
    t.pos = current().pos;
    std::vector<Target> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (current().type == TokenType::kBlockEnd || current().is_op(")") ||
          (!extra_end.empty() && current().is_name(extra_end)) || current().is_op("=")) {
        break;
      }
      items.push_back(parse_target_primary());
      if (current().is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (items.empty()) fail_at(t.pos, "expected an assignment target, got " + quote(describe_token(current())));
    if (!is_tuple) return std::move(items[0]);
    t.kind = Target::Kind::kTuple;
    t.items = std::move(items);
    return t;
  }

  Target parse_target_primary() {
    Target t;
    t.pos = current().pos;
    if (current().type == TokenType::kName) {
      const std::string& n = current().text;
      if (n == "true" || n == "false" || n == "True" || n == "False" || n == "none" || n == "None") {
        fail_here("can't assign to 'const'");
      }
      t.name = advance().text;
      return t;
    }
    if (skip_op("(")) {
      Target inner = parse_assign_target("");
      expect_op(")");
      if (inner.kind != Target::Kind::kTuple) return inner;
      return inner;
    }
    fail_here("can't assign to " + quote(describe_token(current())));
  }

  // ---- expressions ----

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this, current().pos);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    const size_t first_unknown = unknown_.size();
    ExprPtr expr = parse_or();
    while (current().is_name("if")) {
      advance();
      auto node = std::make_unique<CondExpr>(expr->pos);
      for (size_t i = first_unknown; i < unknown_.size(); ++i) unknown_[i].soft = true;
      SoftGuard soft(*this, true);
      node->then_expr = std::move(expr);
      node->test = parse_or();
      if (skip_name("else")) node->else_expr = parse_condexpr_nested();
      expr = std::move(node);
    }
    return expr;
  }
  ExprPtr parse_condexpr_nested() {
    DepthGuard guard(*this, current().pos);
    return parse_condexpr();
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (current().is_name("or")) {
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryOp::kOr, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (current().is_name("and")) {
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryOp::kAnd, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (current().is_name("not")) {
      const size_t pos = advance().pos;
      DepthGuard guard(*this, pos);
      return std::make_unique<UnaryExpr>(pos, UnaryOp::kNot, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const size_t pos = current().pos;
    ExprPtr first = parse_math1();
    auto node = std::make_unique<CompareExpr>(pos);
    while (true) {
      const Token& t = current();
      CompareOp op;
      if (t.is_op("==")) {
        op = CompareOp::kEq;
      } else if (t.is_op("!=")) {
        op = CompareOp::kNe;
      } else if (t.is_op("<")) {
        op = CompareOp::kLt;
      } else if (t.is_op("<=")) {
        op = CompareOp::kLe;
      } else if (t.is_op(">")) {
        op = CompareOp::kGt;
      } else if (t.is_op(">=")) {
        op = CompareOp::kGe;
      } else if (t.is_name("in")) {
        op = CompareOp::kIn;
      } else if (t.is_name("not") && peek().is_name("in")) {
        advance();
        op = CompareOp::kNotIn;
      } else {
        break;
      }
      advance();
      node->rest.emplace_back(op, parse_math1());
    }
    if (node->rest.empty()) return first;
    node->first = std::move(first);
    return node;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (current().is_op("+") || current().is_op("-")) {
      const Token& t = advance();
      const BinaryOp op = t.text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
      left = std::make_unique<BinaryExpr>(t.pos, op, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const size_t pos = current().pos;
    ExprPtr first = parse_math2();
    if (!current().is_op("~")) return first;
    auto node = std::make_unique<ConcatExpr>(pos);
    node->parts.push_back(std::move(first));
    while (skip_op("~")) node->parts.push_back(parse_math2());
    return node;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (true) {
      const Token& t = current();
      BinaryOp op;
      if (t.is_op("*")) {
        op = BinaryOp::kMul;
      } else if (t.is_op("/")) {
        op = BinaryOp::kDiv;
      } else if (t.is_op("//")) {
        op = BinaryOp::kFloorDiv;
      } else if (t.is_op("%")) {
        op = BinaryOp::kMod;
      } else {
        break;
      }
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, op, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (current().is_op("**")) {
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryOp::kPow, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    const size_t pos = current().pos;
    DepthGuard guard(*this, pos);
    ExprPtr node;
    if (skip_op("-")) {
      node = std::make_unique<UnaryExpr>(pos, UnaryOp::kNeg, parse_unary(false));
    } else if (skip_op("+")) {
      node = std::make_unique<UnaryExpr>(pos, UnaryOp::kPos, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = current();
    switch (t.type) {
      case TokenType::kName: {
        const size_t pos = t.pos;
        const std::string& n = t.text;
        ExprPtr node;
        if (n == "true" || n == "True") {
          node = std::make_unique<ConstExpr>(pos, Value(true));
        } else if (n == "false" || n == "False") {
          node = std::make_unique<ConstExpr>(pos, Value(false));
        } else if (n == "none" || n == "None") {
          node = std::make_unique<ConstExpr>(pos, Value::none());
        } else {
          for (auto& names : names_stack_) names.insert(n);
          node = std::make_unique<NameExpr>(pos, n);
        }
        advance();
        return node;
      }
      case TokenType::kString: {
        const size_t pos = t.pos;
        std::string text;
        while (current().type == TokenType::kString) text += advance().text;  // 'a' 'b' == 'ab'
        return std::make_unique<ConstExpr>(pos, Value(std::move(text)));
      }
      case TokenType::kInteger: {
        const Token& n = advance();
        return std::make_unique<ConstExpr>(n.pos, Value(n.integer));
      }
      case TokenType::kFloat: {
        const Token& n = advance();
        return std::make_unique<ConstExpr>(n.pos, Value(n.number));
      }
      case TokenType::kOperator:
        if (t.text == "(") {
          advance();
          ExprPtr node = parse_tuple(true, {}, /*explicit_parentheses=*/true);
          expect_op(")");
          return node;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default: break;
    }
    fail_here("unexpected " + quote(describe_token(t)));
  }

  bool is_tuple_end(const std::vector<std::string_view>& extra_end) const {
    const Token& t = current();
    if (t.type == TokenType::kVarEnd || t.type == TokenType::kBlockEnd || t.is_op(")") || t.type == TokenType::kEof) {
      return true;
    }
    if (t.type == TokenType::kName) {
      for (const std::string_view e : extra_end) {
        if (t.text == e) return true;
      }
    }
    return false;
  }

  // An expression, or a tuple when commas separate several ("a, b" or "(a, b)", "()" only in
  // parentheses).
  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string_view>& extra_end,
                      bool explicit_parentheses = false) {
    const size_t pos = current().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (current().is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) fail_here("expected an expression, got " + quote(describe_token(current())));
    }
    auto node = std::make_unique<SequenceExpr>(ExprKind::kTuple, pos);
    node->items = std::move(items);
    return node;
  }

  ExprPtr parse_list() {
    auto node = std::make_unique<SequenceExpr>(ExprKind::kList, advance().pos);
    while (!current().is_op("]")) {
      if (!node->items.empty()) expect_op(",");
      if (current().is_op("]")) break;
      node->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return node;
  }

  ExprPtr parse_dict() {
    auto node = std::make_unique<DictExpr>(advance().pos);
    while (!current().is_op("}")) {
      if (!node->items.empty()) expect_op(",");
      if (current().is_op("}")) break;
      ExprPtr key = parse_expression(true);
      expect_op(":");
      node->items.emplace_back(std::move(key), parse_expression(true));
    }
    expect_op("}");
    return node;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (current().is_op(".") || current().is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (current().is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (current().is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (current().is_name("is")) {
        node = parse_test(std::move(node));
      } else if (current().is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // Errors in x.attr, x[i] and f(...) are reported at the start of x or f.
  ExprPtr parse_subscript(ExprPtr node) {
    const Token& t = advance();
    const size_t pos = node->pos;
    if (t.text == ".") {
      const Token& attr = current();
      if (attr.type == TokenType::kName) {
        advance();
        return std::make_unique<GetAttrExpr>(pos, std::move(node), attr.text);
      }
      if (attr.type != TokenType::kInteger) fail_here("expected a name or number after '.'");
      advance();
      return std::make_unique<GetItemExpr>(pos, std::move(node), std::make_unique<ConstExpr>(attr.pos, Value(attr.integer)));
    }
    std::vector<ExprPtr> args;
    while (!current().is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    if (args.size() == 1) return std::make_unique<GetItemExpr>(pos, std::move(node), std::move(args[0]));
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::kTuple, pos);
    tuple->items = std::move(args);
    return std::make_unique<GetItemExpr>(pos, std::move(node), std::move(tuple));
  }

  // An index, or a slice start:stop:step with any part omitted.
  ExprPtr parse_subscribed() {
    const size_t pos = current().pos;
    ExprPtr start;
    if (!current().is_op(":")) {
      start = parse_expression(true);
      if (!current().is_op(":")) return start;
    }
    advance();  // :
    auto slice = std::make_unique<SliceExpr>(pos);
    slice->start = std::move(start);
    if (!current().is_op(":") && !current().is_op("]") && !current().is_op(",")) slice->stop = parse_expression(true);
    if (skip_op(":")) {
      if (!current().is_op("]") && !current().is_op(",")) slice->step = parse_expression(true);
    }
    return slice;
  }

  Arguments parse_call_args() {
    const size_t pos = current().pos;
    expect_op("(");
    Arguments args;
    bool require_comma = false;
    const auto ensure = [&](bool ok) {
      if (!ok) fail_at(pos, "invalid syntax for function call expression");
    };
    while (!current().is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (current().is_op(")")) break;
      }
      if (skip_op("*")) {
        ensure(!args.star_args && !args.star_kwargs);
        args.star_args = parse_expression(true);
      } else if (skip_op("**")) {
        ensure(!args.star_kwargs);
        args.star_kwargs = parse_expression(true);
      } else if (current().type == TokenType::kName && peek().is_op("=")) {
        ensure(!args.star_kwargs);
        std::string key = advance().text;
        advance();  // =
        args.named.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!args.star_args && !args.star_kwargs && args.named.empty());
        args.positional.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    const size_t pos = callee->pos;
    auto node = std::make_unique<CallExpr>(pos, std::move(callee));
    node->args = parse_call_args();
    return node;
  }

  // One or more "| name(args)"; with `start_inline` the first filter has no leading pipe
  // ({% filter upper %}).
  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (current().is_op("|") || start_inline) {
      if (!start_inline) advance();
      start_inline = false;
      const Token& name_token = expect_name();
      std::string name = name_token.text;
      while (skip_op(".")) name += "." + expect_name().text;
      if (!is_jinja_filter_name(name)) unknown_.push_back({name_token.pos, name, true, soft_});
      auto filter = std::make_unique<FilterExpr>(name_token.pos, std::move(node), name);
      if (current().is_op("(")) filter->args = parse_call_args();
      node = std::move(filter);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    const size_t pos = advance().pos;  // is
    const bool negated = skip_name("not");
    const Token& name_token = expect_name();
    std::string name = name_token.text;
    while (skip_op(".")) name += "." + expect_name().text;
    if (!is_jinja_test_name(name)) unknown_.push_back({name_token.pos, name, false, soft_});
    auto test = std::make_unique<TestExpr>(pos, std::move(node), name);
    const Token& t = current();
    if (t.is_op("(")) {
      test->args = parse_call_args();
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
                t.type == TokenType::kFloat || t.is_op("[") || t.is_op("{")) &&
               !t.is_name("else") && !t.is_name("or") && !t.is_name("and")) {
      if (t.is_name("is")) fail_here("you cannot chain multiple tests with is");
      test->args.positional.push_back(parse_postfix(parse_primary()));
    }
    if (negated) return std::make_unique<UnaryExpr>(pos, UnaryOp::kNot, std::move(test));
    return test;
  }

  // A filter or test name jinja2 does not define, checked once parsing is done.
  struct Unknown {
    size_t pos;
    std::string name;
    bool filter;
    bool soft;
  };

  const SourceText& source_;
  std::vector<Token> tokens_;
  std::vector<Unknown> unknown_;
  size_t index_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool soft_ = false;
  std::vector<std::pair<std::string, size_t>> tag_stack_;  // open tags, for messages
  std::vector<std::set<std::string>> names_stack_;          // names read inside open macros
};

}  // namespace genarm::chat::detail
