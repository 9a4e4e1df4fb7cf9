#include "query/parser.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "query/literals.h"

namespace watershed::query {

namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParseLimits& limits) : toks_(std::move(tokens)), limits_(limits) {}

  Result<Statement> ParseStatement() {
    Statement st;
    if (AtWord("select")) {
      ASSIGN_OR_RETURN(st.select, ParseSelect());
    } else if (AcceptWord("show")) {
      st.kind = StatementKind::kShowTables;
      RETURN_IF_ERROR(ExpectWord("tables", "TABLES"));
    } else if (AcceptWord("describe")) {
      st.kind = StatementKind::kDescribe;
      ASSIGN_OR_RETURN(st.table, ParseName(2, "a table name"));
    } else if (AcceptWord("explain")) {
      st.kind = StatementKind::kExplain;
      if (!AtWord("select")) return Expected("SELECT");
      ASSIGN_OR_RETURN(st.select, ParseSelect());
    } else {
      return Expected("SELECT, SHOW TABLES, DESCRIBE or EXPLAIN");
    }
    AcceptSymbol(";");
    if (Cur().kind != TokenKind::kEnd) return Expected("end of query");
    return st;
  }

 private:
  // ---- tokens ----
  const Token& Cur() const { return toks_[i_]; }
  const Token& Ahead(size_t n) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
  void Advance() {
    if (Cur().kind != TokenKind::kEnd) ++i_;
  }
  static bool IsWord(const Token& t, std::string_view w) { return t.kind == TokenKind::kIdentifier && t.text == w; }
  static bool IsSymbol(const Token& t, std::string_view s) { return t.kind == TokenKind::kSymbol && t.text == s; }
  // A token that can be a name: a quoted identifier or a non-reserved word.
  static bool IsName(const Token& t) {
    return t.kind == TokenKind::kQuotedIdentifier || (t.kind == TokenKind::kIdentifier && !IsReservedWord(t.text));
  }
  bool AtWord(std::string_view w) const { return IsWord(Cur(), w); }
  bool AtSymbol(std::string_view s) const { return IsSymbol(Cur(), s); }
  bool AcceptWord(std::string_view w) {
    if (!AtWord(w)) return false;
    Advance();
    return true;
  }
  bool AcceptSymbol(std::string_view s) {
    if (!AtSymbol(s)) return false;
    Advance();
    return true;
  }

  // ---- errors ----
  static Status ErrorAt(SourcePos pos, const std::string& message) {
    return Status::InvalidArgument(ToString(pos) + ": " + message);
  }
  Status Expected(const std::string& what) const {
    return ErrorAt(Cur().pos, "expected " + what + ", found " + Describe(Cur()));
  }
  Status ExpectWord(std::string_view w, const std::string& shown) {
    if (!AcceptWord(w)) return Expected(shown);
    return Status::Ok();
  }
  Status ExpectSymbol(std::string_view s) {
    if (!AcceptSymbol(s)) return Expected("'" + std::string(s) + "'");
    return Status::Ok();
  }
  // Called where a clause or the end must come: a name here means the alias
  // taken without AS just before was most likely a misspelt keyword
  // ("SELECT x FORM t"), so the error points at that word.
  Status CheckClauseEnd(const Token* bare_alias, const std::string& expected) const {
    if (IsName(Cur()) && bare_alias != nullptr) {
      return ErrorAt(bare_alias->pos, "expected " + expected + ", found " + Describe(*bare_alias));
    }
    return Status::Ok();
  }

  // ---- bounds ----
  class Nesting {
   public:
    explicit Nesting(Parser* p) : p_(p) { ++p_->nesting_; }
    ~Nesting() { --p_->nesting_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    Parser* p_;
  };
  Status CheckNesting() const {
    if (nesting_ > limits_.max_nesting) {
      return ErrorAt(Cur().pos, "nested deeper than " + std::to_string(limits_.max_nesting) + " levels");
    }
    return Status::Ok();
  }

  static ExprPtr NewExpr(ExprKind kind, SourcePos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  // Sets e's depth and refuses trees deeper than the limit, so that every
  // recursive walk over them (printing, planning, destruction) is bounded.
  Result<ExprPtr> Finish(ExprPtr e) const {
    int deepest = 0;
    for (const ExprPtr& a : e->args) deepest = std::max(deepest, a->depth);
    e->depth = deepest + 1;
    if (e->depth > limits_.max_expr_depth) {
      return ErrorAt(e->pos, "expression nested deeper than " + std::to_string(limits_.max_expr_depth) + " levels");
    }
    return e;
  }

  // ---- names and numbers ----
  Result<std::string> ParseIdentifier(const std::string& what) {
    if (!IsName(Cur())) return Expected(what);
    std::string s = Cur().text;
    Advance();
    return s;
  }

  Result<std::vector<std::string>> ParseName(size_t max_parts, const std::string& what) {
    const SourcePos pos = Cur().pos;
    std::vector<std::string> parts;
    ASSIGN_OR_RETURN(std::string first, ParseIdentifier(what));
    parts.push_back(std::move(first));
    while (AcceptSymbol(".")) {
      if (parts.size() == max_parts) {
        return ErrorAt(pos, what + " has at most " + std::to_string(max_parts) + " parts");
      }
      ASSIGN_OR_RETURN(std::string next, ParseIdentifier(what));
      parts.push_back(std::move(next));
    }
    return parts;
  }

  // A non-negative integer literal: LIMIT, OFFSET, a snapshot id, a type's size.
  Result<int64_t> ParseCount(const std::string& what) {
    if (Cur().kind != TokenKind::kInteger) return Expected("a non-negative integer for " + what);
    int64_t v = 0;
    const std::string& s = Cur().text;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return ErrorAt(Cur().pos, what + " " + s + " is out of range (at most 9223372036854775807)");
    }
    Advance();
    return v;
  }

  // ---- statements ----
  Result<std::unique_ptr<Select>> ParseSelect() {
    Nesting nesting(this);
    RETURN_IF_ERROR(CheckNesting());
    auto s = std::make_unique<Select>();
    s->pos = Cur().pos;
    RETURN_IF_ERROR(ExpectWord("select", "SELECT"));
    s->distinct = AcceptWord("distinct");
    const Token* bare_alias = nullptr;
    do {
      ASSIGN_OR_RETURN(SelectItem item, ParseSelectItem(&bare_alias));
      s->items.push_back(std::move(item));
    } while (AcceptSymbol(","));
    RETURN_IF_ERROR(CheckClauseEnd(bare_alias, "FROM"));
    if (AcceptWord("from")) {
      ASSIGN_OR_RETURN(s->from, ParseTableRef(&bare_alias));
      if (AtSymbol(",")) return ErrorAt(Cur().pos, "FROM takes one table; join a second one with JOIN ... ON");
      if (AtJoin()) {
        ASSIGN_OR_RETURN(s->join, ParseJoin(&bare_alias));
        if (AtJoin()) return ErrorAt(Cur().pos, "only one JOIN is supported");
      }
      RETURN_IF_ERROR(CheckClauseEnd(bare_alias, "WHERE, JOIN, GROUP BY, ORDER BY, LIMIT or end of query"));
    }
    if (AcceptWord("where")) {
      ASSIGN_OR_RETURN(s->where, ParseExpr());
    }
    if (AcceptWord("group")) {
      RETURN_IF_ERROR(ExpectWord("by", "BY"));
      do {
        ASSIGN_OR_RETURN(ExprPtr e, ParseExpr());
        s->group_by.push_back(std::move(e));
      } while (AcceptSymbol(","));
    }
    if (AcceptWord("having")) {
      ASSIGN_OR_RETURN(s->having, ParseExpr());
    }
    if (AcceptWord("order")) {
      RETURN_IF_ERROR(ExpectWord("by", "BY"));
      do {
        OrderItem o;
        ASSIGN_OR_RETURN(o.expr, ParseExpr());
        if (AcceptWord("desc")) {
          o.descending = true;
        } else {
          AcceptWord("asc");
        }
        if (AcceptWord("nulls")) {
          if (AcceptWord("first")) {
            o.nulls = NullsOrder::kFirst;
          } else if (AcceptWord("last")) {
            o.nulls = NullsOrder::kLast;
          } else {
            return Expected("FIRST or LAST");
          }
        }
        s->order_by.push_back(std::move(o));
      } while (AcceptSymbol(","));
    }
    if (AcceptWord("limit")) {
      ASSIGN_OR_RETURN(s->limit, ParseCount("LIMIT"));
    }
    if (AcceptWord("offset")) {
      ASSIGN_OR_RETURN(s->offset, ParseCount("OFFSET"));
    }
    return s;
  }

  Result<SelectItem> ParseSelectItem(const Token** bare_alias) {
    SelectItem item;
    *bare_alias = nullptr;
    if (AcceptSymbol("*")) {
      item.star = true;
      return item;
    }
    // "t.*" / "eu.events.*": names separated by dots, ending in '*'.
    size_t k = 0;
    while (IsName(Ahead(k)) && IsSymbol(Ahead(k + 1), ".")) k += 2;
    if (k > 0 && IsSymbol(Ahead(k), "*")) {
      if (k > 4) return ErrorAt(Cur().pos, "a table name has at most 2 parts");
      for (; k > 0; k -= 2) {
        item.qualifier.push_back(Cur().text);
        Advance();
        Advance();
      }
      Advance();
      item.star = true;
      return item;
    }
    ASSIGN_OR_RETURN(item.expr, ParseExpr());
    ASSIGN_OR_RETURN(item.alias, ParseAlias(bare_alias));
    return item;
  }

  // [AS] name, or nothing; *bare_alias is the token of an alias without AS.
  Result<std::string> ParseAlias(const Token** bare_alias) {
    *bare_alias = nullptr;
    if (AcceptWord("as")) return ParseIdentifier("an alias");
    if (!IsName(Cur())) return std::string();
    *bare_alias = &Cur();
    return ParseIdentifier("an alias");
  }

  Result<TableRef> ParseTableRef(const Token** bare_alias) {
    TableRef t;
    t.pos = Cur().pos;
    if (AcceptSymbol("(")) {
      if (!AtWord("select")) return Expected("SELECT");
      ASSIGN_OR_RETURN(t.subquery, ParseSelect());
      RETURN_IF_ERROR(ExpectSymbol(")"));
    } else {
      ASSIGN_OR_RETURN(t.name, ParseName(2, "a table name"));
      if (AcceptWord("for")) RETURN_IF_ERROR(ParseTimeTravel(&t));
    }
    ASSIGN_OR_RETURN(t.alias, ParseAlias(bare_alias));
    if (t.subquery && t.alias.empty()) return ErrorAt(Cur().pos, "a subquery in FROM needs an alias");
    return t;
  }

  Status ParseTimeTravel(TableRef* t) {
    const bool version = AcceptWord("version");
    if (!version && !AcceptWord("timestamp")) return Expected("VERSION or TIMESTAMP after FOR");
    RETURN_IF_ERROR(ExpectWord("as", "AS"));
    RETURN_IF_ERROR(ExpectWord("of", "OF"));
    if (version) {
      t->time_travel = TimeTravel::kVersion;
      ASSIGN_OR_RETURN(t->version, ParseCount("the snapshot id"));
      return Status::Ok();
    }
    if (Cur().kind != TokenKind::kString) return Expected("a timestamp string");
    if (std::string problem = CheckTimestampText(Cur().text, /*date_only=*/false); !problem.empty()) {
      return ErrorAt(Cur().pos, problem);
    }
    t->time_travel = TimeTravel::kTimestamp;
    t->timestamp = Cur().text;
    Advance();
    return Status::Ok();
  }

  bool AtJoin() const {
    return AtWord("join") || AtWord("inner") || AtWord("left") || AtWord("right") || AtWord("full") ||
           AtWord("cross") || AtWord("natural");
  }

  Result<Join> ParseJoin(const Token** bare_alias) {
    Join j;
    if (AtWord("right") || AtWord("full") || AtWord("cross") || AtWord("natural")) {
      return ErrorAt(Cur().pos, Describe(Cur()) + " joins are not supported (only JOIN, INNER JOIN and LEFT JOIN)");
    }
    if (AcceptWord("left")) {
      j.kind = JoinKind::kLeft;
      AcceptWord("outer");
    } else {
      AcceptWord("inner");
    }
    RETURN_IF_ERROR(ExpectWord("join", "JOIN"));
    ASSIGN_OR_RETURN(j.table, ParseTableRef(bare_alias));
    if (!AtWord("on")) RETURN_IF_ERROR(CheckClauseEnd(*bare_alias, "ON"));
    RETURN_IF_ERROR(ExpectWord("on", "ON"));
    *bare_alias = nullptr;
    ASSIGN_OR_RETURN(j.on, ParseExpr());
    return j;
  }

  // ---- expressions, weakest binding first ----
  Result<ExprPtr> ParseExpr() {
    Nesting nesting(this);
    RETURN_IF_ERROR(CheckNesting());
    return ParseOr();
  }

  // AND and OR chains become one n-ary node (associative, NULLs included),
  // so a long list of conditions is not a deep tree.
  static void AppendFlat(Expr* node, ExprPtr child) {
    if (child->kind == ExprKind::kBinary && child->op == node->op) {
      for (ExprPtr& a : child->args) node->args.push_back(std::move(a));
    } else {
      node->args.push_back(std::move(child));
    }
  }

  Result<ExprPtr> ParseOr() { return ParseChain(Op::kOr, "or", &Parser::ParseAnd); }
  Result<ExprPtr> ParseAnd() { return ParseChain(Op::kAnd, "and", &Parser::ParseNot); }

  Result<ExprPtr> ParseChain(Op op, std::string_view word, Result<ExprPtr> (Parser::*operand)()) {
    ASSIGN_OR_RETURN(ExprPtr first, (this->*operand)());
    if (!AtWord(word)) return first;
    ExprPtr node = NewExpr(ExprKind::kBinary, first->pos);
    node->op = op;
    AppendFlat(node.get(), std::move(first));
    while (AcceptWord(word)) {
      ASSIGN_OR_RETURN(ExprPtr next, (this->*operand)());
      AppendFlat(node.get(), std::move(next));
    }
    return Finish(std::move(node));
  }

  // NOT and unary minus apply to their own level ("NOT NOT a", "- -a"),
  // so a chain of them is a recursion the nesting limit bounds.
  Result<ExprPtr> ParseNot() { return AtWord("not") ? ParsePrefix(Op::kNot, &Parser::ParseNot) : ParseComparison(); }
  Result<ExprPtr> ParseUnary() { return AtSymbol("-") ? ParsePrefix(Op::kNeg, &Parser::ParseUnary) : ParsePrimary(); }

  Result<ExprPtr> ParsePrefix(Op op, Result<ExprPtr> (Parser::*operand)()) {
    ExprPtr node = NewExpr(ExprKind::kUnary, Cur().pos);
    node->op = op;
    Advance();
    Nesting nesting(this);
    RETURN_IF_ERROR(CheckNesting());
    ASSIGN_OR_RETURN(ExprPtr arg, (this->*operand)());
    node->args.push_back(std::move(arg));
    return Finish(std::move(node));
  }

  static Op ComparisonOp(const Token& t) {
    if (t.kind != TokenKind::kSymbol) return Op::kNone;
    static constexpr std::array<std::pair<std::string_view, Op>, 6> kOps = {
        {{"=", Op::kEq}, {"<>", Op::kNe}, {"<", Op::kLt}, {"<=", Op::kLe}, {">", Op::kGt}, {">=", Op::kGe}}};
    for (const auto& [text, op] : kOps)
      if (t.text == text) return op;
    return Op::kNone;
  }
  bool AtComparisonLevel() const {
    return ComparisonOp(Cur()) != Op::kNone || AtWord("is") || AtWord("in") || AtWord("between") || AtWord("like") ||
           AtWord("not");
  }

  // Comparisons, IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE: one
  // level, not chained ("a = b = c" is an error, not a guess).
  Result<ExprPtr> ParseComparison() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseAdditive());
    if (!AtComparisonLevel()) return left;
    ExprPtr node = NewExpr(ExprKind::kBinary, left->pos);
    node->args.push_back(std::move(left));
    if (Op op = ComparisonOp(Cur()); op != Op::kNone) {
      node->op = op;
      Advance();
      ASSIGN_OR_RETURN(ExprPtr right, ParseAdditive());
      node->args.push_back(std::move(right));
    } else if (AcceptWord("is")) {
      node->kind = ExprKind::kIsNull;
      node->negated = AcceptWord("not");
      RETURN_IF_ERROR(ExpectWord("null", "NULL"));
    } else {
      node->negated = AcceptWord("not");
      if (AcceptWord("in")) {
        node->kind = ExprKind::kIn;
        RETURN_IF_ERROR(ExpectSymbol("("));
        if (AtWord("select")) return ErrorAt(Cur().pos, "IN (subquery) is not supported; list the values");
        do {
          ASSIGN_OR_RETURN(ExprPtr e, ParseExpr());
          node->args.push_back(std::move(e));
        } while (AcceptSymbol(","));
        RETURN_IF_ERROR(ExpectSymbol(")"));
      } else if (AcceptWord("between")) {
        node->kind = ExprKind::kBetween;
        ASSIGN_OR_RETURN(ExprPtr low, ParseAdditive());
        RETURN_IF_ERROR(ExpectWord("and", "AND"));
        ASSIGN_OR_RETURN(ExprPtr high, ParseAdditive());
        node->args.push_back(std::move(low));
        node->args.push_back(std::move(high));
      } else if (AcceptWord("like")) {
        node->kind = ExprKind::kLike;
        ASSIGN_OR_RETURN(ExprPtr pattern, ParseAdditive());
        node->args.push_back(std::move(pattern));
      } else {
        return Expected("IN, BETWEEN or LIKE after NOT");
      }
    }
    if (AtComparisonLevel()) {
      return ErrorAt(Cur().pos, Describe(Cur()) + " cannot follow a comparison without parentheses");
    }
    return Finish(std::move(node));
  }

  Result<ExprPtr> ParseAdditive() {
    return ParseLeftAssoc({{"+", Op::kAdd}, {"-", Op::kSub}}, &Parser::ParseMultiplicative);
  }
  Result<ExprPtr> ParseMultiplicative() {
    return ParseLeftAssoc({{"*", Op::kMul}, {"/", Op::kDiv}, {"%", Op::kMod}}, &Parser::ParseUnary);
  }

  Result<ExprPtr> ParseLeftAssoc(std::initializer_list<std::pair<std::string_view, Op>> ops,
                                 Result<ExprPtr> (Parser::*operand)()) {
    ASSIGN_OR_RETURN(ExprPtr left, (this->*operand)());
    while (true) {
      Op op = Op::kNone;
      for (const auto& [text, o] : ops)
        if (AtSymbol(text)) op = o;
      if (op == Op::kNone) return left;
      Advance();
      ExprPtr node = NewExpr(ExprKind::kBinary, left->pos);
      node->op = op;
      node->args.push_back(std::move(left));
      ASSIGN_OR_RETURN(ExprPtr right, (this->*operand)());
      node->args.push_back(std::move(right));
      ASSIGN_OR_RETURN(left, Finish(std::move(node)));
    }
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Cur();
    switch (t.kind) {
      case TokenKind::kInteger:
      case TokenKind::kDecimal:
      case TokenKind::kString: {
        ExprPtr e = NewExpr(t.kind == TokenKind::kInteger   ? ExprKind::kInteger
                            : t.kind == TokenKind::kDecimal ? ExprKind::kDecimal
                                                            : ExprKind::kString,
                            t.pos);
        e->text = t.text;
        Advance();
        return e;
      }
      case TokenKind::kSymbol:
        if (AcceptSymbol("(")) {
          if (AtWord("select")) return ErrorAt(Cur().pos, "subqueries are supported only in FROM");
          ASSIGN_OR_RETURN(ExprPtr inner, ParseExpr());
          RETURN_IF_ERROR(ExpectSymbol(")"));
          return inner;
        }
        if (AtSymbol("*")) return ErrorAt(t.pos, "'*' is allowed only as a whole select item or in COUNT(*)");
        return Expected("an expression");
      case TokenKind::kQuotedIdentifier:
        return ParseNameOrCall();
      case TokenKind::kIdentifier:
        break;
      case TokenKind::kEnd:
        return Expected("an expression");
    }
    if (t.text == "null" || t.text == "true" || t.text == "false") {
      ExprPtr e = NewExpr(t.text == "null" ? ExprKind::kNull : ExprKind::kBool, t.pos);
      e->bool_value = t.text == "true";
      Advance();
      return e;
    }
    if (t.text == "case") return ParseCase();
    if (t.text == "cast") return ParseCast();
    if (Ahead(1).kind == TokenKind::kString) {
      for (const auto& [word, type] :
           {std::pair{"interval", LiteralType::kInterval}, std::pair{"timestamp", LiteralType::kTimestamp},
            std::pair{"date", LiteralType::kDate}}) {
        if (t.text == word) return ParseTypedLiteral(type);
      }
    }
    if (IsReservedWord(t.text)) return Expected("an expression");
    return ParseNameOrCall();
  }

  Result<ExprPtr> ParseTypedLiteral(LiteralType type) {
    ExprPtr e = NewExpr(ExprKind::kTypedLiteral, Cur().pos);
    e->literal_type = type;
    Advance();
    const Token& value = Cur();
    std::string problem = type == LiteralType::kInterval ? CheckIntervalText(value.text)
                                                         : CheckTimestampText(value.text, type == LiteralType::kDate);
    if (!problem.empty()) return ErrorAt(value.pos, problem);
    e->text = value.text;
    Advance();
    return e;
  }

  Result<ExprPtr> ParseNameOrCall() {
    const SourcePos pos = Cur().pos;
    if (IsSymbol(Ahead(1), "(")) {
      ExprPtr f = NewExpr(ExprKind::kFunction, pos);
      f->name.push_back(Cur().text);
      Advance();
      Advance();
      if (AtSymbol("*")) {
        if (f->name[0] != "count") return ErrorAt(Cur().pos, "only COUNT takes '*'");
        f->star = true;
        Advance();
      } else if (!AtSymbol(")")) {
        f->distinct = AcceptWord("distinct");
        do {
          ASSIGN_OR_RETURN(ExprPtr arg, ParseExpr());
          f->args.push_back(std::move(arg));
        } while (AcceptSymbol(","));
      }
      RETURN_IF_ERROR(ExpectSymbol(")"));
      return Finish(std::move(f));
    }
    ExprPtr c = NewExpr(ExprKind::kColumn, pos);
    c->name.push_back(Cur().text);
    Advance();
    while (AcceptSymbol(".")) {
      if (AtSymbol("*")) return ErrorAt(Cur().pos, "'*' is allowed only as a whole select item or in COUNT(*)");
      if (c->name.size() == 3) return ErrorAt(pos, "a column name has at most 3 parts (region.table.column)");
      ASSIGN_OR_RETURN(std::string part, ParseIdentifier("a column name"));
      c->name.push_back(std::move(part));
    }
    return c;
  }

  Result<ExprPtr> ParseCase() {
    ExprPtr e = NewExpr(ExprKind::kCase, Cur().pos);
    Advance();
    if (!AtWord("when") && !AtWord("end")) {
      e->has_operand = true;
      ASSIGN_OR_RETURN(ExprPtr operand, ParseExpr());
      e->args.push_back(std::move(operand));
    }
    if (!AtWord("when")) return Expected("WHEN");
    while (AcceptWord("when")) {
      ASSIGN_OR_RETURN(ExprPtr cond, ParseExpr());
      RETURN_IF_ERROR(ExpectWord("then", "THEN"));
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(value));
    }
    if (AcceptWord("else")) {
      e->has_else = true;
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
      e->args.push_back(std::move(value));
    }
    RETURN_IF_ERROR(ExpectWord("end", "END"));
    return Finish(std::move(e));
  }

  Result<ExprPtr> ParseCast() {
    ExprPtr e = NewExpr(ExprKind::kCast, Cur().pos);
    Advance();
    RETURN_IF_ERROR(ExpectSymbol("("));
    ASSIGN_OR_RETURN(ExprPtr operand, ParseExpr());
    e->args.push_back(std::move(operand));
    RETURN_IF_ERROR(ExpectWord("as", "AS"));
    if (Cur().kind != TokenKind::kIdentifier) return Expected("a type name");
    ASSIGN_OR_RETURN(e->text, CanonicalTypeName(Cur().text));
    const SourcePos type_pos = Cur().pos;
    Advance();
    if (AcceptSymbol("(")) {  // DECIMAL(18,2), VARCHAR(20)
      if (e->text != "DECIMAL" && e->text != "VARCHAR") return ErrorAt(type_pos, e->text + " takes no parameters");
      std::string params;
      const size_t max_params = e->text == "DECIMAL" ? 2 : 1;
      for (size_t n = 0; n == 0 || AcceptSymbol(","); ++n) {
        if (n == max_params)
          return ErrorAt(type_pos, e->text + (n == 1 ? " takes one parameter" : " takes two parameters"));
        ASSIGN_OR_RETURN(int64_t v, ParseCount("the type's size"));
        params += (params.empty() ? "" : ",") + std::to_string(v);
      }
      RETURN_IF_ERROR(ExpectSymbol(")"));
      e->text += "(" + params + ")";
    }
    RETURN_IF_ERROR(ExpectSymbol(")"));
    return Finish(std::move(e));
  }

  Result<std::string> CanonicalTypeName(const std::string& word) const {
    std::string t = CanonicalType(word);
    if (t.empty()) return ErrorAt(Cur().pos, "unknown type " + Describe(Cur()));
    return t;
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  const ParseLimits& limits_;
  int nesting_ = 0;
};

}  // namespace

Result<Statement> Parse(std::string_view sql, const ParseLimits& limits) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(sql, limits));
  return Parser(std::move(tokens), limits).ParseStatement();
}

}  // namespace watershed::query
