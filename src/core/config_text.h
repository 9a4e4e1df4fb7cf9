#pragma once
// The small TOML subset of the hand-written config files: the recommenders' rules and experiments files
// (docs/recs.md, "Config files") and the governance policy (docs/governance.md).
//
//   # a comment                 to the end of the line (outside strings)
//   key = value                 in the current table; keys are bare: letters, digits, '_', '-', '.'
//   [name]                      a table (once per file)
//   [[name]]                    one more element of an array of tables
// Values: "strings" (escapes \" \\ \n \t), integers (-12), floats (0.25, 1e-3), true / false, and one-line
// arrays of those ([1, 2, 3], ["a", "b"]; a trailing comma is allowed). A key twice in one table, a table twice,
// anything else (multi-line values, inline tables, dates) is an error "PATH:LINE:COLUMN: reason" (1-based, the
// column in bytes). TableReader reads typed values with ranges and refuses keys nobody asked for, naming them.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace watershed {

struct ConfigValue {
  enum class Kind { kString, kInteger, kFloat, kBool, kArray };
  Kind kind = Kind::kString;
  std::string text;  // kString
  int64_t integer = 0;
  double number = 0;  // kInteger and kFloat
  bool boolean = false;
  std::vector<ConfigValue> items;  // kArray
  int line = 0, column = 0;
};

struct ConfigTable {
  std::string name;  // "" for the keys before the first header
  bool array_element = false;
  int line = 0;
  struct Entry {
    std::string key;
    ConfigValue value;
    int line = 0, column = 0;
  };
  std::vector<Entry> entries;
};

// tables[0] is the root table (name ""); the others in file order.
Result<std::vector<ConfigTable>> ParseConfigText(std::string_view text, const std::string& path);

// Keeps the first error of a series of reads: `ok(r.Number(...)); ok(r.String(...)); return ok.status;`.
struct FirstError {
  Status status;
  bool operator()(Status s) {
    if (status.ok() && !s.ok()) status = std::move(s);
    return status.ok();
  }
};

// Typed reads of one table; every error is "PATH:LINE:COLUMN: [table] key: reason". Call Finish() last: it fails
// on the first key that was not read ("unknown key 'x' (known: a, b)").
class TableReader {
 public:
  TableReader(const ConfigTable& table, std::string path) : table_(table), path_(std::move(path)) {}
  bool Has(std::string_view key);
  // Each leaves *out unchanged when the key is absent (an error if `required`).
  Status Number(std::string_view key, double* out, double min, double max, bool required = false);
  Status Integer(std::string_view key, int64_t* out, int64_t min, int64_t max, bool required = false);
  Status String(std::string_view key, std::string* out, bool required = false);
  Status Bool(std::string_view key, bool* out);
  Status Strings(std::string_view key, std::vector<std::string>* out);
  Status Integers(std::string_view key, std::vector<int64_t>* out, int64_t min, int64_t max);
  // Keys starting with `prefix` (e.g. "params."), their values as written (strings unquoted); marks them read.
  std::vector<std::pair<std::string, std::string>> WithPrefix(std::string_view prefix);
  Status Finish();
  // An error at the table's header (or at `key` when it is present).
  Status Error(std::string_view key, const std::string& reason);

 private:
  const ConfigTable::Entry* Find(std::string_view key);
  Status At(const ConfigValue& v, std::string_view key, const std::string& reason) const;

  const ConfigTable& table_;
  std::string path_;
  std::vector<std::string> known_;
};

}  // namespace watershed
