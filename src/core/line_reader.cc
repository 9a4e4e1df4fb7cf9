#include "core/line_reader.h"

namespace watershed {

bool LineReader::Next(std::string_view* line) {
  if (pos_ >= text_.size()) return false;
  size_t end = text_.find('\n', pos_);
  if (end == std::string_view::npos) end = text_.size();
  std::string_view l = text_.substr(pos_, end - pos_);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  pos_ = end + 1;
  ++line_;
  *line = l;
  return true;
}

Status LineReader::Error(size_t column, std::string_view message) const {
  std::string where = file_ + ":" + std::to_string(line_);
  if (column > 0) where += ":" + std::to_string(column);
  return Status::InvalidArgument(where + ": " + std::string(message));
}

}  // namespace watershed
