// Fuzzes the SQL front end (src/query): the lexer and parser read text from
// any analyst. Properties checked (a violation traps):
//  * no input crashes, overflows the stack, leaks or trips a sanitizer;
//  * an error message starts with a "line:column: " position;
//  * a query that parses prints (ToSql) to text that parses again to an
//    equal tree, and printing that tree gives the same text.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "query/parser.h"
#include "sql_fuzz_util.h"

namespace {

using namespace watershed::query;

using ::watershed::fuzz::Check;
using ::watershed::fuzz::StartsWithPosition;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = Parse(input);
  if (!parsed.ok()) {
    Check(StartsWithPosition(parsed.status().message()));
    return 0;
  }
  const std::string text = ToSql(*parsed);
  // The canonical text may be longer (spaces, "AS", doubled quotes), never deeper.
  ParseLimits roomy;
  roomy.max_query_bytes *= 4;
  roomy.max_token_bytes *= 2;
  auto again = Parse(text, roomy);
  Check(again.ok());
  Check(*again == *parsed);
  Check(ToSql(*again) == text);
  return 0;
}
