// Fuzzes what clients send to the lake's endpoints and `watershed sql`:
// the JSON body of POST /v1/query, the query string of
// GET /v1/stories/{id}/history, and the statement splitter. The first byte
// picks the target. Properties checked (a violation traps):
//  * nothing crashes, leaks or trips a sanitizer;
//  * an accepted body has an sql within the limit and max_rows in range;
//  * an accepted history range is non-empty, aligned to its granularity
//    and within the granularity's longest range;
//  * split statements appear in the text at the line and column they claim,
//    in order, and a complete statement holds code (not only blanks).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/query_request.h"
#include "query/statements.h"
#include "sql_fuzz_util.h"

namespace {

using namespace watershed;
using ::watershed::fuzz::Check;

// Whether `st` is at its offset in `text` and its line and column are
// those of that offset (columns count characters: UTF-8 continuation bytes
// do not start one, valid UTF-8 or not, as the lexer counts).
bool AtItsPlace(std::string_view text, const query::StatementText& st) {
  if (st.offset > text.size() || text.substr(st.offset, st.text.size()) != st.text) return false;
  int line = 1, column = 1;
  for (size_t i = 0; i < st.offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return line == st.line && column == st.column;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      gateway::QueryRequestLimits limits;
      limits.max_sql_bytes = 256;
      auto r = gateway::ParseQueryRequest(input, limits);
      if (r.ok()) Check(r->sql.size() <= limits.max_sql_bytes && r->max_rows >= 1 && r->max_rows <= limits.max_rows);
      break;
    }
    case 1: {
      auto r = gateway::ParseHistoryRequest(input, 1'796'428'800'000);
      if (r.ok()) {
        const int64_t unit = gateway::GranularityMicros(r->granularity);
        Check(r->from_us < r->to_us && r->to_us - r->from_us <= gateway::MaxHistoryRangeMicros(r->granularity));
        Check(r->from_us % unit == 0 && r->to_us % unit == 0);
      }
      break;
    }
    default: {
      query::SplitStatements s = query::SplitSql(input);
      size_t previous = 0;
      for (const query::StatementText& st : s.complete) {
        Check(st.offset >= previous && AtItsPlace(input, st));
        Check(st.text.find_first_not_of(" \t\r\n") != std::string::npos);
        previous = st.offset + st.text.size();
      }
      Check(s.rest.offset >= previous && AtItsPlace(input, s.rest) &&
            s.rest.offset + s.rest.text.size() == input.size());
      break;
    }
  }
  return 0;
}
