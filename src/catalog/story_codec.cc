#include "catalog/story_codec.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "core/json_text.h"

namespace watershed::catalog {
namespace {

using simdjson::dom::element;

Status FieldError(const std::string& where, std::string_view field, std::string_view what) {
  return Status::InvalidArgument(where + "." + std::string(field) + ": " + std::string(what));
}

Result<StoryPatch> ReadStory(element el, const std::string& where) {
  simdjson::dom::object obj;
  if (el.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument(where + ": must be a JSON object");
  StoryPatch p;
  p.where = where;
  bool has_id = false;
  for (simdjson::dom::key_value_pair m : obj) {
    const std::string_view key = m.key;
    element v = m.value;
    if (key == "story_id" || key == "author_id") {
      uint64_t id = 0;
      if (v.get(id) != simdjson::SUCCESS || id == 0) return FieldError(where, key, "must be a positive integer");
      if (key == "story_id") {
        p.story = StoryId(id);
        has_id = true;
      } else {
        p.author = AuthorId(id);
      }
    } else if (key == "created_at") {
      int64_t ms = 0;
      if (v.get(ms) != simdjson::SUCCESS || ms < 0) return FieldError(where, key, "must be ms since the epoch");
      p.created_at_ms = ms;
    } else if (key == "title" || key == "language") {
      std::string_view s;
      if (v.get(s) != simdjson::SUCCESS) return FieldError(where, key, "must be a string");
      (key == "title" ? p.title : p.language) = std::string(s);
    } else if (key == "tags") {
      simdjson::dom::array tags;
      if (v.get(tags) != simdjson::SUCCESS) return FieldError(where, key, "must be an array of strings");
      if (tags.size() > kMaxTags) return FieldError(where, key, "more than " + std::to_string(kMaxTags) + " tags");
      p.tags.emplace();
      for (element t : tags) {
        std::string_view s;
        if (t.get(s) != simdjson::SUCCESS) return FieldError(where, key, "must be an array of strings");
        p.tags->emplace_back(s);
      }
    } else if (key == "is_original" || key == "deleted") {
      bool b = false;
      if (v.get(b) != simdjson::SUCCESS) return FieldError(where, key, "must be true or false");
      (key == "is_original" ? p.is_original : p.deleted) = b;
    }
  }
  if (!has_id) return Status::InvalidArgument(where + ": story_id is missing");
  return p;
}

Result<std::vector<StoryPatch>> ReadStories(std::string_view text, size_t max) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(text.data(), text.size()).get(root); err != simdjson::SUCCESS)
    return Status::InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(err));
  simdjson::dom::array arr;
  simdjson::dom::object obj;
  if (root.get(obj) == simdjson::SUCCESS) {
    if (obj["stories"].get(arr) != simdjson::SUCCESS)
      return Status::InvalidArgument("the body must have a 'stories' array");
  } else if (root.get(arr) != simdjson::SUCCESS) {
    return Status::InvalidArgument("expected {\"stories\": [...]} or an array of stories");
  }
  if (arr.size() > max)
    return Status::TooLarge(std::to_string(arr.size()) + " stories; at most " + std::to_string(max) + " at once");
  std::vector<StoryPatch> out;
  size_t i = 0;
  for (element el : arr) {
    ASSIGN_OR_RETURN(StoryPatch p, ReadStory(el, "stories[" + std::to_string(i++) + "]"));
    out.push_back(std::move(p));
  }
  return out;
}

// RFC 4180 records: fields split by commas, quoted fields may hold commas,
// newlines and doubled quotes. `line` numbers the first line of each record.
struct CsvRecord {
  size_t line = 0;
  std::vector<std::string> fields;
};
Result<std::vector<CsvRecord>> SplitCsv(std::string_view text) {
  std::vector<CsvRecord> records;
  size_t line = 1, i = 0;
  while (i < text.size()) {
    CsvRecord rec{line, {}};
    std::string field;
    bool end_of_record = false;
    while (!end_of_record) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        const size_t opened = line;
        for (++i;; ++i) {
          if (i >= text.size()) return Status::InvalidArgument("line " + std::to_string(opened) + ": unclosed quote");
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field.push_back('"');
              ++i;
            } else {
              ++i;
              break;
            }
          } else {
            if (text[i] == '\n') ++line;
            field.push_back(text[i]);
          }
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
          return Status::InvalidArgument("line " + std::to_string(line) + ": text after a closing quote");
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') field.push_back(text[i++]);
      }
      rec.fields.push_back(field);
      if (i < text.size() && text[i] == ',') {
        ++i;
      } else {
        if (i < text.size() && text[i] == '\r') ++i;
        if (i < text.size() && text[i] == '\n') ++i;
        ++line;
        end_of_record = true;
      }
    }
    if (!(rec.fields.size() == 1 && rec.fields[0].empty())) records.push_back(std::move(rec));  // blank line
  }
  return records;
}

template <typename T>
bool ParseInt(std::string_view s, T* v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

Result<std::vector<StoryPatch>> ReadCsv(std::string_view text) {
  ASSIGN_OR_RETURN(std::vector<CsvRecord> records, SplitCsv(text));
  if (records.empty()) return Status::InvalidArgument("line 1: no header (story_id,author_id,title,...)");
  const std::vector<std::string> header = records[0].fields;
  static const std::vector<std::string> kKnown = {"story_id", "author_id",   "created_at", "title",
                                                  "tags",     "language",    "is_original", "deleted"};
  bool has_id = false;
  for (const std::string& h : header) {
    if (std::find(kKnown.begin(), kKnown.end(), h) == kKnown.end())
      return Status::InvalidArgument("line 1: unknown column '" + h + "' (known: story_id, author_id, created_at, "
                                     "title, tags, language, is_original, deleted)");
    has_id |= h == "story_id";
  }
  if (!has_id) return Status::InvalidArgument("line 1: the header has no story_id column");
  std::vector<StoryPatch> out;
  for (size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& rec = records[r];
    const std::string where = "line " + std::to_string(rec.line);
    if (rec.fields.size() != header.size())
      return Status::InvalidArgument(where + ": " + std::to_string(rec.fields.size()) + " fields, the header has " +
                                     std::to_string(header.size()));
    StoryPatch p;
    p.where = where;
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string& h = header[c];
      const std::string& v = rec.fields[c];
      auto bad = [&](std::string_view what) { return Status::InvalidArgument(where + ": " + h + " " + std::string(what)); };
      if (h == "author_id" && v.empty()) continue;  // an empty number keeps the current value
      if (h == "story_id" || h == "author_id") {
        uint64_t id = 0;
        if (!ParseInt(v, &id) || id == 0) return bad("must be a positive integer, not '" + v + "'");
        if (h == "story_id") p.story = StoryId(id);
        else p.author = AuthorId(id);
      } else if (h == "created_at") {
        int64_t ms = 0;
        if (!v.empty() && (!ParseInt(v, &ms) || ms < 0)) return bad("must be ms since the epoch, not '" + v + "'");
        if (!v.empty()) p.created_at_ms = ms;
      } else if (h == "title") {
        p.title = v;
      } else if (h == "language") {
        p.language = v;
      } else if (h == "tags") {
        p.tags.emplace();
        for (size_t start = 0; !v.empty() && start <= v.size();) {
          size_t bar = v.find('|', start);
          if (bar == std::string::npos) bar = v.size();
          p.tags->push_back(v.substr(start, bar - start));
          start = bar + 1;
        }
      } else {
        if (v != "true" && v != "false" && !v.empty()) return bad("must be true or false, not '" + v + "'");
        if (!v.empty()) (h == "is_original" ? p.is_original : p.deleted) = v == "true";
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

Result<std::vector<StoryPatch>> ParseStoryBatchJson(std::string_view body) {
  return ReadStories(body, kMaxStoriesPerBatch);
}

Result<std::vector<StoryPatch>> ParseStoryFile(std::string_view content, bool csv) {
  if (csv) return ReadCsv(content);
  return ReadStories(content, std::numeric_limits<size_t>::max());
}

StoryRecord ApplyPatch(const std::optional<StoryRecord>& current, const StoryPatch& patch, int64_t now_ms) {
  StoryRecord r;
  if (current) {
    r = *current;
  } else {
    r.story = patch.story;
    r.created_at_ms = now_ms;
  }
  if (patch.author) r.author = *patch.author;
  if (patch.created_at_ms) r.created_at_ms = *patch.created_at_ms;
  if (patch.title) r.title = *patch.title;
  if (patch.tags) r.tags = *patch.tags;
  if (patch.language) r.language = *patch.language;
  if (patch.is_original) r.is_original = *patch.is_original;
  if (patch.deleted) r.deleted = *patch.deleted;
  r.updated_at_ms = now_ms;
  return r;
}

void AppendStoryJson(const StoryRecord& r, std::string* out) {
  *out += "{\"story_id\":" + std::to_string(r.story.value) + ",\"author_id\":" + std::to_string(r.author.value) +
          ",\"created_at\":" + std::to_string(r.created_at_ms) + ",\"title\":";
  AppendJsonString(r.title, out);
  *out += ",\"tags\":[";
  for (size_t i = 0; i < r.tags.size(); ++i) {
    if (i) *out += ',';
    AppendJsonString(r.tags[i], out);
  }
  *out += "],\"language\":";
  AppendJsonString(r.language, out);
  *out += std::string(",\"is_original\":") + (r.is_original ? "true" : "false") +
          ",\"deleted\":" + (r.deleted ? "true" : "false") + ",\"updated_at\":" + std::to_string(r.updated_at_ms) +
          ",\"version\":" + std::to_string(r.version) + "}";
}

}  // namespace watershed::catalog
