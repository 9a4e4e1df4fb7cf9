// The vectorised evaluator (query/expr.h): per node, one switch on the
// operator and type, then a loop over the batch.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "query/expr.h"
#include "query/literals.h"
#include "query/value_compare.h"

namespace watershed::query {
namespace {

__extension__ typedef __int128 Int128;

Status Err(const BoundExpr& e, const std::string& message) {
  return Status::InvalidArgument(ToString(e.pos) + ": " + message);
}

bool IsString(ColumnType t) { return t == ColumnType::kString || t == ColumnType::kUuid; }

// e over the listed rows of the batch only (all of them: no copy).
Status EvalRows(const BoundExpr& e, const Batch& b, const std::vector<uint32_t>& rows, Vec* out) {
  if (rows.size() == b.n) return Eval(e, b, out);
  return Eval(e, Gather(b, rows), out);
}

std::vector<uint32_t> AllRows(size_t n) {
  std::vector<uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  return rows;
}

// out[rows[j]] = v[j].
void Scatter(const Vec& v, const std::vector<uint32_t>& rows, Vec* out) {
  out->Adopt(v);
  for (size_t j = 0; j < rows.size(); ++j) {
    const uint32_t r = rows[j];
    out->null[r] = v.null[j];
    if (IsString(out->type)) {
      out->s[r] = v.s[j];
    } else if (out->type == ColumnType::kDouble) {
      out->d[r] = v.d[j];
    } else {
      out->i[r] = v.i[j];
    }
  }
}

template <typename T, typename Out>
void CompareLoop(Op op, size_t n, const T* x, const T* y, Out* out) {
  switch (op) {
    case Op::kEq:
      for (size_t r = 0; r < n; ++r) out[r] = x[r] == y[r];
      return;
    case Op::kNe:
      for (size_t r = 0; r < n; ++r) out[r] = x[r] != y[r];
      return;
    case Op::kLt:
      for (size_t r = 0; r < n; ++r) out[r] = x[r] < y[r];
      return;
    case Op::kLe:
      for (size_t r = 0; r < n; ++r) out[r] = x[r] <= y[r];
      return;
    case Op::kGt:
      for (size_t r = 0; r < n; ++r) out[r] = x[r] > y[r];
      return;
    case Op::kGe:
      for (size_t r = 0; r < n; ++r) out[r] = x[r] >= y[r];
      return;
    default:
      return;
  }
}

// out (BOOLEAN) = x op y, both of one type; NULL if either is.
void CompareVecs(Op op, const Vec& x, const Vec& y, Vec* out) {
  const size_t n = x.n;
  out->Resize(ColumnType::kBoolean, n);
  for (size_t r = 0; r < n; ++r) out->null[r] = x.null[r] | y.null[r];
  if (x.type == ColumnType::kDouble) {
    CompareLoop(op, n, x.d.data(), y.d.data(), out->i.data());
  } else if (IsString(x.type)) {
    CompareLoop(op, n, x.s.data(), y.s.data(),
                out->i.data());  // string_view: unsigned bytes
  } else {
    CompareLoop(op, n, x.i.data(), y.i.data(), out->i.data());
  }
}

// Three-valued logic as 0 = FALSE, 1 = NULL, 2 = TRUE: AND is min, OR max.
uint8_t Tri(const Vec& v, size_t r) { return v.null[r] ? 1 : v.i[r] ? 2 : 0; }
void SetTri(Vec* out, size_t r, uint8_t t) {
  out->null[r] = t == 1;
  out->i[r] = t == 2;
}

Status EvalLogic(const BoundExpr& e, const Batch& b, Vec* out) {
  const bool is_and = e.kind == BKind::kAnd;
  std::vector<uint8_t> state(b.n, is_and ? 2 : 0);
  // Each operand is evaluated only on the rows the ones before left open
  // (not FALSE for AND, not TRUE for OR): `x <> 0 AND 10 / x > 1` is safe.
  std::vector<uint32_t> open = AllRows(b.n);
  for (const BoundExpr& a : e.args) {
    if (open.empty()) break;
    Vec v;
    RETURN_IF_ERROR(EvalRows(a, b, open, &v));
    std::vector<uint32_t> next;
    for (size_t j = 0; j < open.size(); ++j) {
      const uint32_t r = open[j];
      const uint8_t t = Tri(v, j);
      state[r] = is_and ? std::min(state[r], t) : std::max(state[r], t);
      if (state[r] != (is_and ? 0 : 2)) next.push_back(r);
    }
    open.swap(next);
  }
  out->Resize(ColumnType::kBoolean, b.n);
  for (size_t r = 0; r < b.n; ++r) SetTri(out, r, state[r]);
  return Status::Ok();
}

Status EvalArith(const BoundExpr& e, const Batch& b, Vec* out) {
  Vec x, y;
  RETURN_IF_ERROR(Eval(e.args[0], b, &x));
  RETURN_IF_ERROR(Eval(e.args[1], b, &y));
  const size_t n = b.n;
  out->Resize(e.type, n);
  for (size_t r = 0; r < n; ++r) out->null[r] = x.null[r] | y.null[r];
  const uint8_t* nul = out->null.data();
  if (e.type == ColumnType::kDouble) {  // the binder cast both operands to DOUBLE
    const double *a = x.d.data(), *c = y.d.data();
    double* o = out->d.data();
    switch (e.op) {
      case Op::kAdd:
        for (size_t r = 0; r < n; ++r) o[r] = a[r] + c[r];
        break;
      case Op::kSub:
        for (size_t r = 0; r < n; ++r) o[r] = a[r] - c[r];
        break;
      case Op::kMul:
        for (size_t r = 0; r < n; ++r) o[r] = a[r] * c[r];
        break;
      case Op::kDiv:
      case Op::kMod: {
        bool zero = false;
        for (size_t r = 0; r < n; ++r) zero |= !nul[r] && c[r] == 0;
        if (zero) return Err(e, "division by zero in " + e.text);
        if (e.op == Op::kDiv) {
          for (size_t r = 0; r < n; ++r) o[r] = a[r] / c[r];
        } else {
          for (size_t r = 0; r < n; ++r) o[r] = nul[r] ? 0 : std::fmod(a[r], c[r]);
        }
        break;
      }
      default:
        break;
    }
    return Status::Ok();
  }
  // BIGINT, TIMESTAMP +/- INTERVAL, INTERVAL +/- INTERVAL: exact or an error.
  const int64_t *a = x.i.data(), *c = y.i.data();
  int64_t* o = out->i.data();
  bool bad = false;
  switch (e.op) {
    case Op::kAdd:
      for (size_t r = 0; r < n; ++r)
        bad |= static_cast<int>(__builtin_add_overflow(a[r], c[r], &o[r])) & static_cast<int>(!nul[r]);
      break;
    case Op::kSub:
      for (size_t r = 0; r < n; ++r)
        bad |= static_cast<int>(__builtin_sub_overflow(a[r], c[r], &o[r])) & static_cast<int>(!nul[r]);
      break;
    case Op::kMul:
      for (size_t r = 0; r < n; ++r)
        bad |= static_cast<int>(__builtin_mul_overflow(a[r], c[r], &o[r])) & static_cast<int>(!nul[r]);
      break;
    case Op::kDiv:
    case Op::kMod: {
      bool zero = false;
      for (size_t r = 0; r < n; ++r) {
        zero |= !nul[r] && c[r] == 0;
        bad |= !nul[r] && c[r] == -1 && a[r] == INT64_MIN;
      }
      if (zero) return Err(e, "division by zero in " + e.text);
      if (bad) break;
      if (e.op == Op::kDiv) {
        for (size_t r = 0; r < n; ++r) o[r] = nul[r] ? 0 : a[r] / c[r];
      } else {
        for (size_t r = 0; r < n; ++r) o[r] = nul[r] ? 0 : a[r] % c[r];
      }
      break;
    }
    default:
      break;
  }
  if (bad) return Err(e, std::string(TypeName(e.type)) + " overflow in " + e.text);
  return Status::Ok();
}

Status EvalIn(const BoundExpr& e, const Batch& b, Vec* out) {
  Vec x;
  RETURN_IF_ERROR(Eval(e.args[0], b, &x));
  std::vector<uint8_t> state(b.n, 0);  // 0 FALSE, 1 NULL (seen a NULL), 2 TRUE
  // Constant items (the usual case, maybe thousands): one sorted list.
  std::vector<int64_t> ints;
  std::vector<double> dbls;
  std::vector<std::string_view> strs;
  bool const_null = false;
  for (size_t k = 1; k < e.args.size(); ++k) {
    const BoundExpr& a = e.args[k];
    if (a.kind == BKind::kConst) {
      if (a.value.null) {
        const_null = true;
      } else if (x.type == ColumnType::kDouble) {
        dbls.push_back(a.value.d);
      } else if (IsString(x.type)) {
        strs.push_back(a.value.s);
      } else {
        ints.push_back(a.value.i);
      }
      continue;
    }
    Vec v, eq;
    RETURN_IF_ERROR(Eval(a, b, &v));
    CompareVecs(Op::kEq, x, v, &eq);
    for (size_t r = 0; r < b.n; ++r) state[r] = std::max(state[r], Tri(eq, r));
  }
  std::sort(ints.begin(), ints.end());
  std::sort(dbls.begin(), dbls.end());
  std::sort(strs.begin(), strs.end());
  for (size_t r = 0; r < b.n; ++r) {
    if (x.null[r]) {
      state[r] = 1;
      continue;
    }
    bool hit = false;
    if (x.type == ColumnType::kDouble) {
      hit = std::binary_search(dbls.begin(), dbls.end(), x.d[r]);
    } else if (IsString(x.type)) {
      hit = std::binary_search(strs.begin(), strs.end(), x.s[r]);
    } else {
      hit = std::binary_search(ints.begin(), ints.end(), x.i[r]);
    }
    if (hit) state[r] = 2;
    if (const_null) state[r] = std::max<uint8_t>(state[r], 1);
  }
  out->Resize(ColumnType::kBoolean, b.n);
  for (size_t r = 0; r < b.n; ++r) SetTri(out, r, e.negated ? static_cast<uint8_t>(2 - state[r]) : state[r]);
  return Status::Ok();
}

Status EvalBetween(const BoundExpr& e, const Batch& b, Vec* out) {
  Vec x, lo, hi, ge, le;
  RETURN_IF_ERROR(Eval(e.args[0], b, &x));
  RETURN_IF_ERROR(Eval(e.args[1], b, &lo));
  RETURN_IF_ERROR(Eval(e.args[2], b, &hi));
  CompareVecs(Op::kGe, x, lo, &ge);
  CompareVecs(Op::kLe, x, hi, &le);
  out->Resize(ColumnType::kBoolean, b.n);
  for (size_t r = 0; r < b.n; ++r) {
    const uint8_t t = std::min(Tri(ge, r), Tri(le, r));
    SetTri(out, r, e.negated ? static_cast<uint8_t>(2 - t) : t);
  }
  return Status::Ok();
}

Status EvalCase(const BoundExpr& e, const Batch& b, Vec* out) {
  out->Resize(e.type, b.n);
  std::vector<uint32_t> open = AllRows(b.n);
  const size_t pairs = (e.args.size() - 1) / 2;
  for (size_t k = 0; k < pairs && !open.empty(); ++k) {
    Vec cond;
    RETURN_IF_ERROR(EvalRows(e.args[2 * k], b, open, &cond));
    std::vector<uint32_t> hit, rest;
    for (size_t j = 0; j < open.size(); ++j) (Tri(cond, j) == 2 ? hit : rest).push_back(open[j]);
    if (!hit.empty()) {
      Vec v;
      RETURN_IF_ERROR(EvalRows(e.args[2 * k + 1], b, hit, &v));
      Scatter(v, hit, out);
    }
    open.swap(rest);
  }
  if (!open.empty()) {
    Vec v;
    RETURN_IF_ERROR(EvalRows(e.args.back(), b, open, &v));
    Scatter(v, open, out);
  }
  return Status::Ok();
}

Status EvalCoalesce(const BoundExpr& e, const Batch& b, Vec* out) {
  out->Resize(e.type, b.n);
  std::vector<uint32_t> open = AllRows(b.n);
  for (const BoundExpr& a : e.args) {
    if (open.empty()) break;
    Vec v;
    RETURN_IF_ERROR(EvalRows(a, b, open, &v));
    Scatter(v, open, out);
    std::vector<uint32_t> rest;
    for (size_t j = 0; j < open.size(); ++j)
      if (v.null[j]) rest.push_back(open[j]);
    open.swap(rest);
  }
  return Status::Ok();
}

Status EvalCast(const BoundExpr& e, const Batch& b, Vec* out) {
  Vec x;
  RETURN_IF_ERROR(Eval(e.args[0], b, &x));
  const ColumnType from = x.type, to = e.type;
  if (from == to) {
    *out = std::move(x);
    return Status::Ok();
  }
  out->Resize(to, b.n);
  out->null = x.null;
  auto bad = [&](size_t r) { return Err(e, "cannot cast " + FormatValue(x.Get(r), from) + " to " + TypeName(to)); };
  for (size_t r = 0; r < b.n; ++r) {
    if (x.null[r]) continue;
    if (to == ColumnType::kString) {
      out->s[r] = out->Keep(FormatValue(x.Get(r), from));
    } else if (to == ColumnType::kDouble) {
      if (from == ColumnType::kString) {
        const std::string_view t = x.s[r];
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out->d[r]);
        if (ec != std::errc() || p != t.data() + t.size()) return bad(r);
      } else {
        out->d[r] = static_cast<double>(x.i[r]);
      }
    } else if (to == ColumnType::kBigint) {
      if (from == ColumnType::kDouble) {
        const double v = std::round(x.d[r]);  // half away from zero
        if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) return bad(r);
        out->i[r] = static_cast<int64_t>(v);
      } else if (from == ColumnType::kString) {
        std::string_view t = x.s[r];
        if (!t.empty() && t[0] == '+') t.remove_prefix(1);
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out->i[r]);
        if (ec != std::errc() || p != t.data() + t.size()) return bad(r);
      } else {
        out->i[r] = x.i[r];  // BOOLEAN
      }
    } else if (to == ColumnType::kTimestamp) {  // from VARCHAR (the binder
                                                // allows no other)
      auto t = TimestampMicros(x.s[r], false);
      if (!t.ok()) t = TimestampMicros(x.s[r], true);
      if (!t.ok()) return bad(r);
      out->i[r] = *t;
    } else if (to == ColumnType::kBoolean) {
      if (from == ColumnType::kString) {
        std::string t(x.s[r]);
        for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (t == "true" || t == "t" || t == "1") {
          out->i[r] = 1;
        } else if (t == "false" || t == "f" || t == "0") {
          out->i[r] = 0;
        } else {
          return bad(r);
        }
      } else {
        out->i[r] = x.i[r] != 0;
      }
    } else if (to == ColumnType::kUuid) {
      auto u = ParseUuidText(x.s[r]);
      if (!u) return bad(r);
      out->s[r] = out->Keep(std::move(*u));
    }
  }
  return Status::Ok();
}

Status EvalDateTrunc(const BoundExpr& e, const Batch& b, Vec* out) {
  Vec x;
  RETURN_IF_ERROR(Eval(e.args[0], b, &x));
  out->Resize(ColumnType::kTimestamp, b.n);
  out->null = x.null;
  const Int128 unit = e.unit_micros;
  // ISO weeks start on Monday; 1970-01-01 was a Thursday, so weeks are
  // counted from Monday 1969-12-29.
  const Int128 origin = e.unit_micros == 7 * 86'400'000'000LL ? -3 * 86'400'000'000LL : 0;
  for (size_t r = 0; r < b.n; ++r) {
    const Int128 t = Int128{x.i[r]} - origin;
    Int128 q = t / unit;
    if (t % unit != 0 && t < 0) --q;  // floor, also before 1970
    const Int128 v = q * unit + origin;
    if (v < INT64_MIN) return Err(e, "TIMESTAMP out of range in " + e.text);
    out->i[r] = static_cast<int64_t>(v);
  }
  return Status::Ok();
}

}  // namespace

void Vec::Resize(ColumnType t, size_t rows) {
  type = t;
  n = rows;
  null.assign(rows, 1);
  i.clear();
  d.clear();
  s.clear();
  if (t == ColumnType::kDouble) {
    d.assign(rows, 0);
  } else if (IsString(t)) {
    s.assign(rows, {});
  } else {
    i.assign(rows, 0);
  }
}

Value Vec::Get(size_t r) const {
  Value v;
  if (null[r]) {
    v.null = true;
  } else if (type == ColumnType::kDouble) {
    v.d = d[r];
  } else if (IsString(type)) {
    v.s = std::string(s[r]);
  } else {
    v.i = i[r];
  }
  return v;
}

void Vec::Set(size_t r, const Value& v) {
  null[r] = v.null;
  if (v.null) return;
  if (type == ColumnType::kDouble) {
    d[r] = v.d;
  } else if (IsString(type)) {
    s[r] = Keep(v.s);
  } else {
    i[r] = v.i;
  }
}

std::string_view Vec::Keep(std::string str) {
  if (!arena) {
    arena = std::make_shared<std::deque<std::string>>();
    owners.push_back(arena);
  }
  arena->push_back(std::move(str));
  return arena->back();
}

void Vec::Adopt(const Vec& o) {
  for (const auto& w : o.owners)
    if (std::find(owners.begin(), owners.end(), w) == owners.end()) owners.push_back(w);
}

Vec GatherVec(const Vec& v, const std::vector<uint32_t>& rows) {
  Vec out;
  out.type = v.type;
  out.n = rows.size();
  out.owners = v.owners;
  out.null.resize(rows.size());
  for (size_t j = 0; j < rows.size(); ++j) out.null[j] = v.null[rows[j]];
  if (v.type == ColumnType::kDouble) {
    out.d.resize(rows.size());
    for (size_t j = 0; j < rows.size(); ++j) out.d[j] = v.d[rows[j]];
  } else if (IsString(v.type)) {
    out.s.resize(rows.size());
    for (size_t j = 0; j < rows.size(); ++j) out.s[j] = v.s[rows[j]];
  } else {
    out.i.resize(rows.size());
    for (size_t j = 0; j < rows.size(); ++j) out.i[j] = v.i[rows[j]];
  }
  return out;
}

Batch Gather(const Batch& batch, const std::vector<uint32_t>& rows) {
  Batch out;
  out.n = rows.size();
  for (const Vec& v : batch.cols) out.cols.push_back(GatherVec(v, rows));
  return out;
}

std::vector<uint32_t> TrueRows(const Vec& v) {
  std::vector<uint32_t> rows;
  for (size_t r = 0; r < v.n; ++r)
    if (!v.null[r] && v.i[r]) rows.push_back(static_cast<uint32_t>(r));
  return rows;
}

bool LikeMatch(std::string_view text, std::string_view pat) {
  auto charlen = [&](size_t at) {
    const unsigned char c = static_cast<unsigned char>(text[at]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return std::min(len, text.size() - at);
  };
  size_t t = 0, p = 0, star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pat.size() && pat[p] == '%') {
      star_p = ++p;
      star_t = t;
    } else if (p < pat.size() && pat[p] == '_') {
      t += charlen(t);
      ++p;
    } else if (p < pat.size() && pat[p] == text[t]) {
      ++p;
      ++t;
    } else if (star_p != std::string_view::npos) {
      p = star_p;
      star_t += charlen(star_t);
      t = star_t;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '%') ++p;
  return p == pat.size();
}

Status Eval(const BoundExpr& e, const Batch& b, Vec* out) {
  switch (e.kind) {
    case BKind::kColumn:
      *out = b.cols[e.column];
      return Status::Ok();
    case BKind::kConst:
      out->Resize(e.type, b.n);
      if (!e.value.null && b.n > 0) {
        out->Set(0, e.value);
        for (size_t r = 1; r < b.n; ++r) {
          out->null[r] = 0;
          if (e.type == ColumnType::kDouble) {
            out->d[r] = out->d[0];
          } else if (IsString(e.type)) {
            out->s[r] = out->s[0];
          } else {
            out->i[r] = out->i[0];
          }
        }
      }
      return Status::Ok();
    case BKind::kArith:
      return EvalArith(e, b, out);
    case BKind::kNeg: {
      Vec x;
      RETURN_IF_ERROR(Eval(e.args[0], b, &x));
      *out = std::move(x);
      if (out->type == ColumnType::kDouble) {
        for (double& v : out->d) v = -v;
        return Status::Ok();
      }
      bool bad = false;
      for (size_t r = 0; r < out->n; ++r)
        bad |= static_cast<int>(__builtin_sub_overflow(0, out->i[r], &out->i[r])) & static_cast<int>(!out->null[r]);
      if (bad) return Err(e, std::string(TypeName(e.type)) + " overflow in " + e.text);
      return Status::Ok();
    }
    case BKind::kCompare: {
      Vec x, y;
      RETURN_IF_ERROR(Eval(e.args[0], b, &x));
      RETURN_IF_ERROR(Eval(e.args[1], b, &y));
      CompareVecs(e.op, x, y, out);
      return Status::Ok();
    }
    case BKind::kAnd:
    case BKind::kOr:
      return EvalLogic(e, b, out);
    case BKind::kNot:
      RETURN_IF_ERROR(Eval(e.args[0], b, out));
      for (size_t r = 0; r < out->n; ++r) out->i[r] = !out->i[r];
      return Status::Ok();
    case BKind::kIsNull: {
      Vec x;
      RETURN_IF_ERROR(Eval(e.args[0], b, &x));
      out->Resize(ColumnType::kBoolean, b.n);
      for (size_t r = 0; r < b.n; ++r) out->null[r] = 0, out->i[r] = (x.null[r] != 0) != e.negated;
      return Status::Ok();
    }
    case BKind::kIn:
      return EvalIn(e, b, out);
    case BKind::kBetween:
      return EvalBetween(e, b, out);
    case BKind::kLike: {
      Vec x, p;
      RETURN_IF_ERROR(Eval(e.args[0], b, &x));
      RETURN_IF_ERROR(Eval(e.args[1], b, &p));
      out->Resize(ColumnType::kBoolean, b.n);
      for (size_t r = 0; r < b.n; ++r) {
        out->null[r] = x.null[r] | p.null[r];
        out->i[r] = !out->null[r] && LikeMatch(x.s[r], p.s[r]) != e.negated;
      }
      return Status::Ok();
    }
    case BKind::kCase:
      return EvalCase(e, b, out);
    case BKind::kCast:
      return EvalCast(e, b, out);
    case BKind::kCoalesce:
      return EvalCoalesce(e, b, out);
    case BKind::kDateTrunc:
      return EvalDateTrunc(e, b, out);
  }
  return Status::Internal("unknown expression");
}

}  // namespace watershed::query
