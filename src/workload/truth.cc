#include "workload/truth.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

namespace watershed::workload {

void TruthBuilder::Counted::Add(const Event& e) {
  switch (e.type) {
    case EventType::kView:
      ++agg.views;
      agg.watch_time_ms += e.watch_ms;
      viewers.emplace(e.region, e.viewer_id.value);
      agg.unique_viewers = viewers.size();
      break;
    case EventType::kShare:
      ++agg.shares;
      break;
    case EventType::kReply:
      ++agg.replies;
      break;
  }
}

TruthBuilder::TruthBuilder(TruthOptions options) : options_(options) {}

void TruthBuilder::StartWatermark(Region region, uint32_t partition, int64_t watermark) {
  auto [it, added] = watermark_.emplace(PartitionKey{region, partition}, watermark);
  if (!added) it->second = std::max(it->second, watermark);
}

void TruthBuilder::Add(const Event& e) {
  if (!seen_.insert(e.event_id).second) {
    ++duplicates_;
    return;
  }
  auto& story = stories_.try_emplace(e.story_id.value, e.author_id.value, Counted{}).first->second;
  story.second.Add(e);

  const PartitionKey pk{e.region, PartitionOf(e.story_id, options_.partitions, options_.partition_scheme)};
  auto wm = watermark_.find(pk);
  const int64_t t = e.event_time.value;
  for (int i = 0; i < 2; ++i) {
    const int64_t size = kWindowSizesMs[i];
    const int64_t start = t / size * size;  // t >= 0, so this is floor
    if (wm != watermark_.end() && wm->second >= start + size + options_.allowed_lateness_ms) {
      ++late_[i];
      continue;
    }
    WindowState& w = windows_[{e.story_id.value, size, start}];
    w.counted.Add(e);
    w.regions.insert(e.region);
  }
  const int64_t candidate = t - options_.out_of_order_ms;
  if (wm == watermark_.end()) {
    watermark_.emplace(pk, candidate);
  } else {
    wm->second = std::max(wm->second, candidate);
  }
}

Truth TruthBuilder::Finish() const {
  Truth truth;
  truth.options = options_;
  for (const auto& [id, story] : stories_) {
    truth.stories[id] = StoryTruth{story.first, story.second.agg};
  }
  for (const auto& [key, w] : windows_) {
    const auto& [story, size, start] = key;
    bool final = true;
    for (Region r : w.regions) {
      auto wm = watermark_.find({r, PartitionOf(StoryId(story), options_.partitions, options_.partition_scheme)});
      final = final && wm != watermark_.end() &&
              wm->second >= start + size + options_.allowed_lateness_ms;
    }
    truth.windows[key] = WindowTruth{w.counted.agg, final};
  }
  truth.distinct_events = seen_.size();
  truth.duplicates = duplicates_;
  truth.late_5s = late_[0];
  truth.late_1m = late_[1];
  return truth;
}

size_t KeepRecentWindows(Truth* truth, int64_t within_ms) {
  int64_t newest_end = INT64_MIN;
  for (const auto& [key, w] : truth->windows) newest_end = std::max(newest_end, std::get<2>(key) + std::get<1>(key));
  const size_t before = truth->windows.size();
  std::erase_if(truth->windows, [&](const auto& kv) { return std::get<2>(kv.first) < newest_end - within_ms; });
  return before - truth->windows.size();
}

// ---- Truth file ----

namespace {

constexpr std::string_view kMagic = "watershed-truth";
constexpr std::string_view kVersion = "v1";

void AppendAggregates(std::ostringstream& out, const Aggregates& a) {
  out << ' ' << a.views << ' ' << a.unique_viewers << ' ' << a.watch_time_ms << ' ' << a.shares
      << ' ' << a.replies;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (true) {
    size_t space = line.find(' ', pos);
    fields.push_back(line.substr(pos, space - pos));
    if (space == std::string_view::npos) break;
    pos = space + 1;
  }
  return fields;
}

// Parses one line's fields; errors carry "name:line: ".
class LineParser {
 public:
  LineParser(const std::string& name, int line, std::string_view text)
      : name_(name), line_(line), fields_(SplitFields(text)) {}

  size_t size() const { return fields_.size(); }
  std::string_view field(size_t i) const { return fields_[i]; }

  Status Error(const std::string& reason) const {
    return Status::InvalidArgument(name_ + ":" + std::to_string(line_) + ": " + reason);
  }
  Status ExpectFields(size_t n) const {
    if (fields_.size() == n) return Status::Ok();
    return Error("expected " + std::to_string(n) + " fields, got " +
                 std::to_string(fields_.size()));
  }
  template <typename T>
  Result<T> Number(size_t i) const {
    std::string_view f = fields_[i];
    T v{};
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (f.empty() || ec != std::errc() || end != f.data() + f.size()) {
      return Error("field " + std::to_string(i + 1) + ": bad number '" + std::string(f) + "'");
    }
    return v;
  }
  // Field i must be "key=<number>".
  template <typename T>
  Result<T> Keyed(size_t i, std::string_view key) const {
    std::string_view f = fields_[i];
    if (f.size() <= key.size() || f.substr(0, key.size()) != key || f[key.size()] != '=') {
      return Error("field " + std::to_string(i + 1) + ": expected " + std::string(key) + "=N");
    }
    LineParser value(name_, line_, f.substr(key.size() + 1));
    return value.template Number<T>(0);
  }
  Result<Aggregates> Aggs(size_t first) const {
    Aggregates a;
    uint64_t* out[] = {&a.views, &a.unique_viewers, &a.watch_time_ms, &a.shares, &a.replies};
    for (size_t k = 0; k < 5; ++k) {
      ASSIGN_OR_RETURN(*out[k], Number<uint64_t>(first + k));
    }
    return a;
  }

 private:
  const std::string& name_;
  int line_;
  std::vector<std::string_view> fields_;
};

Status ParseHeader(const LineParser& p, Truth& t) {
  if (p.size() != 6) RETURN_IF_ERROR(p.ExpectFields(5));
  if (p.field(0) != kMagic || p.field(1) != kVersion) {
    return p.Error("expected header 'watershed-truth v1 ...'");
  }
  ASSIGN_OR_RETURN(t.options.partitions, p.Keyed<uint32_t>(2, "partitions"));
  ASSIGN_OR_RETURN(t.options.out_of_order_ms, p.Keyed<int64_t>(3, "out_of_order_ms"));
  ASSIGN_OR_RETURN(t.options.allowed_lateness_ms, p.Keyed<int64_t>(4, "allowed_lateness_ms"));
  if (t.options.partitions == 0) return p.Error("partitions must be >= 1");
  t.options.partition_scheme = PartitionScheme::kLegacy;  // files from before schemes
  if (p.size() == 6) {
    const std::string_view f = p.field(5);
    auto scheme = f.starts_with("scheme=") ? ParsePartitionScheme(f.substr(7)) : std::nullopt;
    if (!scheme) return p.Error("field 6: expected scheme=aligned or scheme=legacy");
    t.options.partition_scheme = *scheme;
  }
  return Status::Ok();
}

Status ParseCounts(const LineParser& p, Truth& t) {
  RETURN_IF_ERROR(p.ExpectFields(5));
  ASSIGN_OR_RETURN(t.distinct_events, p.Keyed<uint64_t>(1, "distinct_events"));
  ASSIGN_OR_RETURN(t.duplicates, p.Keyed<uint64_t>(2, "duplicates"));
  ASSIGN_OR_RETURN(t.late_5s, p.Keyed<uint64_t>(3, "late_5s"));
  ASSIGN_OR_RETURN(t.late_1m, p.Keyed<uint64_t>(4, "late_1m"));
  return Status::Ok();
}

Status ParseStory(const LineParser& p, Truth& t) {
  RETURN_IF_ERROR(p.ExpectFields(8));
  ASSIGN_OR_RETURN(uint64_t id, p.Number<uint64_t>(1));
  StoryTruth s;
  ASSIGN_OR_RETURN(s.author_id, p.Number<uint64_t>(2));
  ASSIGN_OR_RETURN(s.totals, p.Aggs(3));
  if (!t.stories.emplace(id, s).second) return p.Error("repeated story " + std::to_string(id));
  return Status::Ok();
}

Status ParseWindow(const LineParser& p, Truth& t) {
  RETURN_IF_ERROR(p.ExpectFields(10));
  ASSIGN_OR_RETURN(uint64_t story, p.Number<uint64_t>(1));
  ASSIGN_OR_RETURN(int64_t size, p.Number<int64_t>(2));
  ASSIGN_OR_RETURN(int64_t start, p.Number<int64_t>(3));
  if (size != kWindowSizesMs[0] && size != kWindowSizesMs[1]) return p.Error("bad window size");
  if (start < 0 || start % size != 0) return p.Error("window start not aligned to its size");
  WindowTruth w;
  if (p.field(4) != "0" && p.field(4) != "1") return p.Error("final must be 0 or 1");
  w.final = p.field(4) == "1";
  ASSIGN_OR_RETURN(w.agg, p.Aggs(5));
  if (!t.windows.emplace(WindowKey{story, size, start}, w).second) {
    return p.Error("repeated window");
  }
  return Status::Ok();
}

}  // namespace

std::string SerializeTruth(const Truth& t) {
  std::ostringstream out;
  out << kMagic << ' ' << kVersion << " partitions=" << t.options.partitions
      << " out_of_order_ms=" << t.options.out_of_order_ms << " allowed_lateness_ms=" << t.options.allowed_lateness_ms
      << " scheme=" << PartitionSchemeName(t.options.partition_scheme) << '\n';
  out << "counts distinct_events=" << t.distinct_events << " duplicates=" << t.duplicates
      << " late_5s=" << t.late_5s << " late_1m=" << t.late_1m << '\n';
  for (const auto& [id, s] : t.stories) {
    out << "story " << id << ' ' << s.author_id;
    AppendAggregates(out, s.totals);
    out << '\n';
  }
  for (const auto& [key, w] : t.windows) {
    const auto& [story, size, start] = key;
    out << "window " << story << ' ' << size << ' ' << start << ' ' << (w.final ? 1 : 0);
    AppendAggregates(out, w.agg);
    out << '\n';
  }
  out << "end stories=" << t.stories.size() << " windows=" << t.windows.size() << '\n';
  return out.str();
}

Result<Truth> ParseTruth(std::string_view text, const std::string& name) {
  Truth t;
  int line_no = 0;
  bool ended = false;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      return LineParser(name, line_no + 1, "").Error("last line lacks a newline (truncated?)");
    }
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++line_no;
    LineParser p(name, line_no, line);
    if (ended) return p.Error("data after end line");
    const std::string_view kind = p.field(0);
    if (line_no == 1) {
      RETURN_IF_ERROR(ParseHeader(p, t));
    } else if (line_no == 2) {
      if (kind != "counts") return p.Error("expected counts line");
      RETURN_IF_ERROR(ParseCounts(p, t));
    } else if (kind == "story") {
      RETURN_IF_ERROR(ParseStory(p, t));
    } else if (kind == "window") {
      RETURN_IF_ERROR(ParseWindow(p, t));
    } else if (kind == "end") {
      RETURN_IF_ERROR(p.ExpectFields(3));
      ASSIGN_OR_RETURN(uint64_t stories, p.Keyed<uint64_t>(1, "stories"));
      ASSIGN_OR_RETURN(uint64_t windows, p.Keyed<uint64_t>(2, "windows"));
      if (stories != t.stories.size() || windows != t.windows.size()) {
        return p.Error("end line counts do not match the records read");
      }
      ended = true;
    } else {
      return p.Error("unknown record '" + std::string(kind) + "'");
    }
  }
  if (!ended) {
    return LineParser(name, line_no + 1, "").Error("missing end line (truncated?)");
  }
  return t;
}

Status WriteTruthFile(const Truth& truth, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IoError("cannot open " + path + " for writing");
  out << SerializeTruth(truth);
  out.close();
  if (!out) return Status::IoError("write failed: " + path);
  return Status::Ok();
}

Result<Truth> ReadTruthFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::IoError("read failed: " + path);
  return ParseTruth(buffer.str(), path);
}

}  // namespace watershed::workload
