#pragma once
// Text split into lines for parsers that report "FILE:LINE[:COLUMN]: message"
// errors (1-based; the column is a byte offset in the line + 1).

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace watershed {

// Lines of `text`, split at '\n' with a trailing '\r' removed; a last line
// without '\n' counts; a final empty line does not.
class LineReader {
 public:
  LineReader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}
  bool Next(std::string_view* line);
  size_t line_number() const { return line_; }  // of the line Next returned last
  const std::string& file() const { return file_; }
  // "FILE:LINE: message", or "FILE:LINE:COLUMN: message" when column > 0.
  Status Error(size_t column, std::string_view message) const;

 private:
  std::string_view text_;
  std::string file_;
  size_t pos_ = 0;
  size_t line_ = 0;
};

}  // namespace watershed
