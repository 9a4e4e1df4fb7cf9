#include "core/config_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/line_reader.h"

namespace watershed {
namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

// One line being parsed; pos_ is a byte offset into it, columns are pos_ + 1.
class LineParser {
 public:
  LineParser(std::string_view line, int number, const std::string& path) : s_(line), line_(number), path_(path) {}

  Status Error(size_t pos, const std::string& reason) const {
    return Status::InvalidArgument(path_ + ":" + std::to_string(line_) + ":" + std::to_string(pos + 1) + ": " + reason);
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  // Only spaces or a comment remain.
  Status ExpectEnd() {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] != '#') return Error(pos_, "unexpected '" + std::string(1, s_[pos_]) + "'");
    return Status::Ok();
  }
  Result<std::string> Key() {
    const size_t start = pos_;
    while (pos_ < s_.size() && IsKeyChar(s_[pos_])) ++pos_;
    if (pos_ == start) return Error(start, "expected a key (letters, digits, '_', '-', '.')");
    return std::string(s_.substr(start, pos_ - start));
  }
  bool Consume(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  size_t pos() const { return pos_; }
  int line() const { return line_; }

  Result<ConfigValue> Value(int depth) {
    SkipSpace();
    ConfigValue v;
    v.line = line_;
    v.column = static_cast<int>(pos_ + 1);
    if (pos_ >= s_.size() || s_[pos_] == '#') return Error(pos_, "expected a value");
    const char c = s_[pos_];
    if (c == '"') return String(std::move(v));
    if (c == '[') {
      if (depth > 0) return Error(pos_, "nested arrays are not supported");
      ++pos_;
      v.kind = ConfigValue::Kind::kArray;
      while (true) {
        SkipSpace();
        if (Consume(']')) return v;
        auto item = Value(depth + 1);
        if (!item.ok()) return item.status();
        v.items.push_back(std::move(*item));
        SkipSpace();
        if (Consume(']')) return v;
        if (!Consume(',')) {
          if (pos_ >= s_.size() || s_[pos_] == '#') return Error(pos_, "unterminated array (arrays are one line)");
          return Error(pos_, "expected ',' or ']' in the array");
        }
      }
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != ']' && s_[pos_] != ' ' && s_[pos_] != '\t' &&
           s_[pos_] != '#')
      ++pos_;
    const std::string_view word = s_.substr(start, pos_ - start);
    if (word == "true" || word == "false") {
      v.kind = ConfigValue::Kind::kBool;
      v.boolean = word == "true";
      return v;
    }
    const bool is_float =
        word.find_first_of(".eE") != std::string_view::npos && word.find_first_of("xX") == std::string_view::npos;
    if (!is_float) {
      int64_t i = 0;
      const char* b = word.data() + (word.size() > 1 && word[0] == '+' ? 1 : 0);
      auto [end, ec] = std::from_chars(b, word.data() + word.size(), i);
      if (ec == std::errc() && end == word.data() + word.size() && !word.empty()) {
        v.kind = ConfigValue::Kind::kInteger;
        v.integer = i;
        v.number = static_cast<double>(i);
        return v;
      }
      if (ec == std::errc::result_out_of_range) return Error(start, "integer out of range");
    } else {
      double d = 0;
      const char* b = word.data() + (word.size() > 1 && word[0] == '+' ? 1 : 0);
      auto [end, ec] = std::from_chars(b, word.data() + word.size(), d);
      if (ec == std::errc() && end == word.data() + word.size() && std::isfinite(d) && word.back() != '.' &&
          word.front() != '.') {
        v.kind = ConfigValue::Kind::kFloat;
        v.number = d;
        return v;
      }
    }
    return Error(start, "expected a value (\"string\", number, true, false or [array]), got '" +
                            std::string(word.substr(0, 40)) + "'");
  }

 private:
  Result<ConfigValue> String(ConfigValue v) {
    const size_t open = pos_++;
    v.kind = ConfigValue::Kind::kString;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return v;
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return Error(pos_ - 1, "control character in a string");
      if (c != '\\') {
        v.text.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          v.text.push_back('"');
          break;
        case '\\':
          v.text.push_back('\\');
          break;
        case 'n':
          v.text.push_back('\n');
          break;
        case 't':
          v.text.push_back('\t');
          break;
        default:
          return Error(pos_ - 2, std::string("unknown escape '\\") + e + "'");
      }
    }
    return Error(open, "unterminated string");
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_;
  const std::string& path_;
};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

Result<std::vector<ConfigTable>> ParseConfigText(std::string_view text, const std::string& path) {
  std::vector<ConfigTable> tables(1);
  std::set<std::string> single_tables, array_tables;
  std::set<std::string> keys;  // of the current table
  LineReader lines(text, path);
  std::string_view line;
  while (lines.Next(&line)) {
    const int number = static_cast<int>(lines.line_number());
    LineParser p(line, number, path);
    if (line.find('\0') != std::string_view::npos) return p.Error(line.find('\0'), "NUL byte");
    p.SkipSpace();
    if (p.pos() == line.size() || line[p.pos()] == '#') continue;
    if (p.Consume('[')) {
      const bool array = p.Consume('[');
      p.SkipSpace();
      const size_t name_at = p.pos();
      auto name = p.Key();
      if (!name.ok()) return name.status();
      p.SkipSpace();
      if (!p.Consume(']') || (array && !p.Consume(']')))
        return p.Error(p.pos(), array ? "expected ']]' after the table name" : "expected ']' after the table name");
      if (Status s = p.ExpectEnd(); !s.ok()) return s;
      auto& mine = array ? array_tables : single_tables;
      auto& other = array ? single_tables : array_tables;
      if (other.count(*name))
        return p.Error(name_at, "table " + Quote(*name) + " is used both as [" + *name + "] and [[" + *name + "]]");
      if (!array && mine.count(*name)) return p.Error(name_at, "table [" + *name + "] defined twice");
      mine.insert(*name);
      ConfigTable t;
      t.name = *name;
      t.array_element = array;
      t.line = number;
      tables.push_back(std::move(t));
      keys.clear();
      continue;
    }
    const size_t key_at = p.pos();
    auto key = p.Key();
    if (!key.ok()) return key.status();
    p.SkipSpace();
    if (!p.Consume('=')) return p.Error(p.pos(), "expected '=' after the key " + Quote(*key));
    auto value = p.Value(0);
    if (!value.ok()) return value.status();
    if (Status s = p.ExpectEnd(); !s.ok()) return s;
    if (!keys.insert(*key).second) return p.Error(key_at, "key " + Quote(*key) + " given twice in this table");
    tables.back().entries.push_back({*key, std::move(*value), number, static_cast<int>(key_at + 1)});
  }
  return tables;
}

const ConfigTable::Entry* TableReader::Find(std::string_view key) {
  known_.emplace_back(key);
  for (const auto& e : table_.entries)
    if (e.key == key) return &e;
  return nullptr;
}

bool TableReader::Has(std::string_view key) {
  for (const auto& e : table_.entries)
    if (e.key == key) return true;
  return false;
}

Status TableReader::At(const ConfigValue& v, std::string_view key, const std::string& reason) const {
  const std::string where =
      table_.name.empty() ? ""
                          : (table_.array_element ? "[[" : "[") + table_.name + (table_.array_element ? "]] " : "] ");
  return Status::InvalidArgument(path_ + ":" + std::to_string(v.line) + ":" + std::to_string(v.column) + ": " + where +
                                 std::string(key) + ": " + reason);
}

Status TableReader::Error(std::string_view key, const std::string& reason) {
  for (const auto& e : table_.entries)
    if (e.key == key) return At(e.value, key, reason);
  ConfigValue header;
  header.line = table_.line;
  header.column = 1;
  return At(header, key, reason);
}

namespace {
std::string Range(double min, double max) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%g, %g]", min, max);
  return buf;
}
}  // namespace

Status TableReader::Number(std::string_view key, double* out, double min, double max, bool required) {
  const ConfigTable::Entry* e = Find(key);
  if (!e) return required ? Error(key, "is required") : Status::Ok();
  const ConfigValue& v = e->value;
  if (v.kind != ConfigValue::Kind::kInteger && v.kind != ConfigValue::Kind::kFloat)
    return At(v, key, "must be a number");
  if (!(v.number >= min && v.number <= max)) return At(v, key, "must be in " + Range(min, max));
  *out = v.number;
  return Status::Ok();
}

Status TableReader::Integer(std::string_view key, int64_t* out, int64_t min, int64_t max, bool required) {
  const ConfigTable::Entry* e = Find(key);
  if (!e) return required ? Error(key, "is required") : Status::Ok();
  const ConfigValue& v = e->value;
  if (v.kind != ConfigValue::Kind::kInteger) return At(v, key, "must be an integer");
  if (v.integer < min || v.integer > max)
    return At(v, key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  *out = v.integer;
  return Status::Ok();
}

Status TableReader::String(std::string_view key, std::string* out, bool required) {
  const ConfigTable::Entry* e = Find(key);
  if (!e) return required ? Error(key, "is required") : Status::Ok();
  if (e->value.kind != ConfigValue::Kind::kString) return At(e->value, key, "must be a \"string\"");
  *out = e->value.text;
  return Status::Ok();
}

Status TableReader::Bool(std::string_view key, bool* out) {
  const ConfigTable::Entry* e = Find(key);
  if (!e) return Status::Ok();
  if (e->value.kind != ConfigValue::Kind::kBool) return At(e->value, key, "must be true or false");
  *out = e->value.boolean;
  return Status::Ok();
}

Status TableReader::Strings(std::string_view key, std::vector<std::string>* out) {
  const ConfigTable::Entry* e = Find(key);
  if (!e) return Status::Ok();
  if (e->value.kind != ConfigValue::Kind::kArray) return At(e->value, key, "must be an array of strings");
  out->clear();
  for (const ConfigValue& item : e->value.items) {
    if (item.kind != ConfigValue::Kind::kString) return At(item, key, "must be an array of strings");
    out->push_back(item.text);
  }
  return Status::Ok();
}

Status TableReader::Integers(std::string_view key, std::vector<int64_t>* out, int64_t min, int64_t max) {
  const ConfigTable::Entry* e = Find(key);
  if (!e) return Status::Ok();
  if (e->value.kind != ConfigValue::Kind::kArray) return At(e->value, key, "must be an array of integers");
  out->clear();
  for (const ConfigValue& item : e->value.items) {
    if (item.kind != ConfigValue::Kind::kInteger) return At(item, key, "must be an array of integers");
    if (item.integer < min || item.integer > max)
      return At(item, key, "each must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    out->push_back(item.integer);
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> TableReader::WithPrefix(std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : table_.entries) {
    if (e.key.size() <= prefix.size() || e.key.compare(0, prefix.size(), prefix) != 0) continue;
    known_.push_back(e.key);
    const ConfigValue& v = e.value;
    std::string text;
    switch (v.kind) {
      case ConfigValue::Kind::kString:
        text = v.text;
        break;
      case ConfigValue::Kind::kInteger:
        text = std::to_string(v.integer);
        break;
      case ConfigValue::Kind::kBool:
        text = v.boolean ? "true" : "false";
        break;
      default: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v.number);
        text = v.kind == ConfigValue::Kind::kFloat ? buf : "[array]";
      }
    }
    out.emplace_back(e.key.substr(prefix.size()), text);
  }
  return out;
}

Status TableReader::Finish() {
  for (const auto& e : table_.entries) {
    if (std::find(known_.begin(), known_.end(), e.key) != known_.end()) continue;
    std::vector<std::string> names = known_;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    ConfigValue at;
    at.line = e.line;
    at.column = e.column;
    return At(at, e.key, "unknown key (known: " + list + ")");
  }
  return Status::Ok();
}

}  // namespace watershed
