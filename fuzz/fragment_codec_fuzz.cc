// Fuzzes the wire format of global queries' fragments (query/fragment_codec.h): what a peer reads from another
// region's coordinator (the request) and what a coordinator reads from a peer (the answer, the estimate, an error).
// The first byte picks the target. Properties checked (a violation traps):
//  * nothing crashes, leaks or trips a sanitizer;
//  * an accepted request has an sql within the limit; re-encoding it decodes to the same request;
//  * an accepted answer is within the limits, every row has one value per column, and it round-trips:
//    encode(decode(x)) decodes to the same rows (NaN compared as NaN).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "query/fragment_codec.h"
#include "sql_fuzz_util.h"

namespace {

using namespace watershed;
using ::watershed::fuzz::Check;

bool SameValue(const query::Value& a, const query::Value& b, query::ColumnType t) {
  if (a.null || b.null) return a.null == b.null;
  if (t == query::ColumnType::kDouble) return (std::isnan(a.d) && std::isnan(b.d)) || a.d == b.d;
  if (t == query::ColumnType::kString || t == query::ColumnType::kUuid) return a.s == b.s;
  return a.i == b.i;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  query::FragmentLimits limits;
  limits.max_sql_bytes = 4096;
  limits.max_rows = 64;
  limits.max_columns = 16;
  limits.max_body_bytes = 1 << 16;
  switch (data[0] % 4) {
    case 0: {
      auto r = query::DecodeFragmentRequest(body, limits);
      if (!r.ok()) break;
      Check(r->sql.size() <= limits.max_sql_bytes);
      auto again = query::DecodeFragmentRequest(query::EncodeFragmentRequest(*r), limits);
      Check(again.ok() && again->sql == r->sql && again->coordinator == r->coordinator && again->caller == r->caller &&
            again->explain == r->explain);
      break;
    }
    case 1: {
      auto r = query::DecodeFragmentResult(body, limits);
      if (!r.ok()) break;
      Check(r->names.size() <= limits.max_columns && r->rows.size() <= limits.max_rows);
      for (const auto& row : r->rows) Check(row.size() == r->types.size());
      query::FragmentLimits wide = limits;
      wide.max_body_bytes = 64 << 20;
      auto again = query::DecodeFragmentResult(query::EncodeFragmentResult(*r), wide);
      Check(again.ok() && again->names == r->names && again->types == r->types && again->rows.size() == r->rows.size());
      for (size_t i = 0; i < r->rows.size(); ++i)
        for (size_t c = 0; c < r->types.size(); ++c) Check(SameValue(r->rows[i][c], again->rows[i][c], r->types[c]));
      break;
    }
    case 2: {
      auto n = query::DecodeFragmentEstimate(body);
      if (n.ok()) Check(*n >= 0);
      break;
    }
    default:
      (void)query::DecodeFragmentErrorMessage(body);
  }
  return 0;
}
