#include "stream/partition_processor.h"

#include <algorithm>
#include <random>

#include "core/endian.h"
#include "core/random.h"
#include "stream/varint.h"

namespace watershed::stream {

using serve::Aggregates;
using serve::WindowKey;
using serve::WindowSize;

namespace {

constexpr uint32_t kStateMagic = 0x4b435357;  // "WSCK"
// 1: dedup on event_id alone (DedupTable::Encoding::kIdOnly); 2: on (viewer, event_id), plus the ids
// restored from a version 1 state that have not expired yet; 3: the maximum event time, which the
// watermark no longer is (before 3 it was watermark + out_of_order).
// 4: each story's last event time (idle eviction).
constexpr uint32_t kStateVersion = 4;
constexpr int64_t kMaxWindowStart = int64_t{1} << 52;  // year 142,000: far beyond any valid event_time

void Count(const Event& e, Aggregates* a) {
  switch (e.type) {
    case EventType::kView:
      ++a->views;
      a->watch_time_ms += e.watch_ms;
      break;
    case EventType::kShare: ++a->shares; break;
    case EventType::kReply: ++a->replies; break;
  }
}

int64_t FloorTo(int64_t t, int64_t size) { return t - (t % size); }  // t >= 0 (validated at ingest)

void Put64(std::string* out, uint64_t v) {
  char b[8];
  PutFixed64(b, v);
  out->append(b, 8);
}
// Fixed 64-bit words (checkpoints), or varints (cold records).
struct Writer {
  std::string* out;
  bool compact = false;
  void U64(uint64_t v) { compact ? PutVarint64(out, v) : Put64(out, v); }
  void Agg(const Aggregates& a) {
    for (uint64_t v : {a.views, a.unique_viewers, a.watch_time_ms, a.shares, a.replies}) U64(v);
  }
};

// Bounds-checked reader over serialized state; `compact`: varints (cold records).
struct Reader {
  std::string_view in;
  bool compact = false;
  bool ok = true;
  uint64_t U64() {
    if (compact) {
      uint64_t v = 0;
      if (!GetVarint64(&in, &v)) ok = false;
      return v;
    }
    if (in.size() < 8) {
      ok = false;
      return 0;
    }
    uint64_t v = GetFixed64(in.data());
    in.remove_prefix(8);
    return v;
  }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  Aggregates Agg() {
    Aggregates a;
    a.views = U64(), a.unique_viewers = U64(), a.watch_time_ms = U64(), a.shares = U64(), a.replies = U64();
    return a;
  }
};

HashKey KeyOf(const ProcessorOptions& options) {
  if (options.hash_key) return *options.hash_key;
  HashKey key;
  if (HashKey::Random(&key)) return key;
  // No getrandom: the C++ library's source (often the CPU's) still keeps the key unpredictable.
  std::random_device rd;
  return {(uint64_t{rd()} << 32) ^ rd(), (uint64_t{rd()} << 32) ^ rd()};
}

}  // namespace

PartitionProcessor::PartitionProcessor(Region region, uint32_t partition, const ProcessorOptions& options)
    : region_(region),
      partition_(partition),
      options_(options),
      key_(KeyOf(options)),
      dedup_(options.dedup_ttl_ms, key_),
      legacy_dedup_(options.dedup_ttl_ms, key_),
      stories_(key_) {}

int64_t PartitionProcessor::Retention(int size) const {
  return size == 0 ? options_.retention_5s_ms : options_.retention_1m_ms;
}

int64_t PartitionProcessor::DropAt(int size, int64_t start) const {
  const int64_t end = start + serve::WindowMs(static_cast<WindowSize>(size));
  return std::max(end + Retention(size), end + options_.allowed_lateness_ms);
}

void PartitionProcessor::MarkDirty(uint64_t story_id, Story& s) {
  if (s.dirty) return;
  s.dirty = true;
  dirty_stories_.emplace_back(story_id, &s);
}

void PartitionProcessor::MarkDirty(const WindowKey& key, Window& w) {
  if (w.dirty) return;
  w.dirty = true;
  dirty_windows_.emplace_back(key, &w);
}

void PartitionProcessor::ProcessBatch(const std::vector<log::LogRecord>& records, std::vector<uint8_t>* distinct) {
  if (distinct) distinct->resize(records.size());
  // Three stages, each needing what the one before brought into cache.
  constexpr size_t kIndex = 8, kStory = 5, kViewers = 2;
  const size_t n = records.size();
  // One keyed hash per record serves the prefetches and inserts of its three viewer sets.
  uint64_t viewer_hash[4];
  static_assert(kViewers < 4);
  for (size_t i = 0; i < std::min(n, kViewers); ++i)
    viewer_hash[i] = ViewerSet::Hash(key_, records[i].event.viewer_id.value);
  for (size_t i = 0; i < n; ++i) {
    if (i + kIndex < n) {
      dedup_.Prefetch(records[i + kIndex].event.event_id, records[i + kIndex].event.viewer_id);
      stories_.Prefetch(records[i + kIndex].event.story_id.value);
    }
    if (i + kStory < n) {
      if (const Story* s = stories_.Find(records[i + kStory].event.story_id.value)) __builtin_prefetch(&s->viewers);
    }
    if (i + kViewers < n) {
      const Event& e = records[i + kViewers].event;
      const uint64_t h = viewer_hash[(i + kViewers) % 4] = ViewerSet::Hash(key_, e.viewer_id.value);
      if (const Story* s = stories_.Find(e.story_id.value)) {
        s->viewers.Prefetch(h);
        for (int size = 0; size < serve::kWindowSizeCount; ++size)
          if (s->recent[size] != nullptr) s->recent[size]->viewers.Prefetch(h);
      }
    }
    const bool fresh = Process(records[i], viewer_hash[i % 4]);
    if (distinct) (*distinct)[i] = fresh;
  }
}

bool PartitionProcessor::Duplicate(const log::LogRecord& r) const {
  const int64_t append_ms = std::max(last_append_ms_, r.append_time.value);
  return (legacy_dedup_.size() != 0 && legacy_dedup_.Seen(r.event.event_id, ViewerId(0), append_ms)) ||
         dedup_.Seen(r.event.event_id, r.event.viewer_id, append_ms);
}

bool PartitionProcessor::Process(const log::LogRecord& r) {
  return Process(r, ViewerSet::Hash(key_, r.event.viewer_id.value));
}

bool PartitionProcessor::Process(const log::LogRecord& r, uint64_t viewer_hash) {
  if (!status_.ok()) return false;
  const Event& e = r.event;
  const uint64_t id = e.story_id.value;
  Story* story_ptr = stories_.Find(id);
  // A cold story comes back before the record is consumed (a failed read
  // leaves the record unread) — unless the record is a duplicate, which
  // changes nothing and must not cost a read and a rewrite of the story.
  if (story_ptr == nullptr && cold_ != nullptr && cold_->Contains(id) && !Duplicate(r)) {
    if (Status s = Reload(id); !s.ok()) {
      status_ = s;
      return false;
    }
    story_ptr = stories_.Find(id);
  }
  next_offset_ = LogOffset(r.offset.value + 1);
  // The log's append times never decrease, except across a restart whose clock
  // stepped back; taking the running maximum keeps dedup a function of the log.
  last_append_ms_ = std::max(last_append_ms_, r.append_time.value);
  ++counters_.records;
  // Ids restored from a version 1 state match any viewer until they expire, as they did when recorded.
  if ((legacy_dedup_.size() != 0 && legacy_dedup_.Seen(e.event_id, ViewerId(0), last_append_ms_)) ||
      dedup_.SeenOrInsert(e.event_id, e.viewer_id, last_append_ms_)) {
    ++counters_.duplicates;
    return false;
  }
  if (story_ptr == nullptr) {
    story_ptr = stories_.FindOrInsert(id).first;
    story_ptr->author = e.author_id;
  }
  Story& story = *story_ptr;
  Count(e, &story.totals);
  const bool view = e.type == EventType::kView;
  if (view && story.viewers.Insert(key_, e.viewer_id.value, viewer_hash)) ++story.totals.unique_viewers;
  MarkDirty(id, story);
  story.last_touch = last_append_ms_;
  if (options_.story_idle_evict_ms > 0) Touch(id, story);

  const int64_t t = e.event_time.value;
  for (int size = 0; size < serve::kWindowSizeCount; ++size) {
    const int64_t span = serve::WindowMs(static_cast<WindowSize>(size));
    const int64_t start = FloorTo(t, span);
    const int64_t close_at = start + span + options_.allowed_lateness_ms;
    if (watermark_ >= close_at) {
      ++counters_.late[size];
      continue;
    }
    const WindowKey key{e.story_id, static_cast<WindowSize>(size), start};
    if (story.recent[size] == nullptr || story.recent_start[size] != start) {
      auto [wit, created] = story.windows[size].try_emplace(start);
      if (created) {
        pending_close_[close_at].push_back(key);
        ++open_windows_;
      }
      story.recent[size] = &wit->second;
      story.recent_start[size] = start;
    }
    Window& w = *story.recent[size];
    Count(e, &w.agg);
    if (view && w.viewers.Insert(key_, e.viewer_id.value, viewer_hash)) ++w.agg.unique_viewers;
    MarkDirty(key, w);
  }
  // A client clock running ahead must not move the watermark: event time counts only as far as the log's own
  // clock, whose append times are in the records (so a replay computes the same watermark).
  max_event_time_ = std::max(max_event_time_, t);
  const int64_t bound = std::min(max_event_time_, last_append_ms_);
  if (bound >= INT64_MIN + options_.out_of_order_ms)  // saturating: hostile times must not overflow
    watermark_ = std::max(watermark_, bound - options_.out_of_order_ms);
  return true;
}

void PartitionProcessor::FinalizeWindows() {
  while (!pending_close_.empty() && pending_close_.begin()->first <= watermark_) {
    for (const WindowKey& key : pending_close_.begin()->second) {
      const int size = static_cast<int>(key.size);
      Window& w = stories_.At(key.story.value).windows[size].at(key.start);
      w.final = true;
      w.viewers.Clear();
      MarkDirty(key, w);
      pending_drop_[size].push_back({DropAt(size, key.start), key.story.value, key.start});
      --open_windows_;
    }
    pending_close_.erase(pending_close_.begin());
  }
}

void PartitionProcessor::DropExpiredWindows() {
  for (int size = 0; size < serve::kWindowSizeCount; ++size) {
    auto& q = pending_drop_[size];
    while (!q.empty() && q.front().at <= watermark_) {
      const Drop d = q.front();
      q.pop_front();
      // A cold story's record may still hold the window: Reload leaves out windows past their drop time.
      if (Story* story = stories_.Find(d.story)) {
        if (story->recent_start[size] == d.start) story->recent[size] = nullptr;
        story->windows[size].erase(d.start);
      }
      dropped_.push_back({StoryId(d.story), static_cast<WindowSize>(size), d.start});
    }
  }
}

void PartitionProcessor::TakeWrite(serve::PartitionWrite* out) {
  FinalizeWindows();
  dedup_.Expire(last_append_ms_);
  legacy_dedup_.Expire(last_append_ms_);
  out->region = region_;
  out->partition = partition_;
  out->as_of_ms = last_append_ms_;
  out->next_offset = next_offset().value;
  out->stories.clear();
  out->windows.clear();
  for (auto& [id, s] : dirty_stories_) {
    s->dirty = false;
    out->stories.push_back({StoryId(id), s->author, s->totals});
  }
  dirty_stories_.clear();
  for (auto& [key, w] : dirty_windows_) {
    w->dirty = false;
    out->windows.push_back({key, w->agg, w->final});
  }
  dirty_windows_.clear();
  // Dropped after the write is built: the store applies a write's windows
  // before its drops, so a window closed and dropped in one round leaves nothing.
  DropExpiredWindows();
  out->dropped_windows.clear();
  out->dropped_windows.swap(dropped_);
  EvictIdle();
}

int64_t PartitionProcessor::ClosedBy(const Story& s) const {
  int64_t by = INT64_MIN;
  for (int size = 0; size < serve::kWindowSizeCount; ++size)
    if (!s.windows[size].empty())  // the latest window closes last
      by = std::max(by, s.windows[size].rbegin()->first + serve::WindowMs(static_cast<WindowSize>(size)) +
                            options_.allowed_lateness_ms);
  return by;
}

void PartitionProcessor::Touch(uint64_t id, Story& s) {
  // One entry per quarter of the idle time at most: a busy story costs a few entries, not one per event.
  const int64_t gap = std::max<int64_t>(1, options_.story_idle_evict_ms / 4);
  if (s.queued_at > last_append_ms_ - gap) return;
  s.queued_at = last_append_ms_;
  idle_queue_.push({last_append_ms_, id});
}

void PartitionProcessor::EvictIdle() {
  if (options_.story_idle_evict_ms <= 0 || cold_ == nullptr || !status_.ok()) return;
  // Idle: no distinct event after this append time.
  const int64_t idle_at = last_append_ms_ - options_.story_idle_evict_ms;
  while (!idle_queue_.empty() && idle_queue_.top().first <= idle_at) {
    const auto [at, id] = idle_queue_.top();
    idle_queue_.pop();
    Story* s = stories_.Find(id);
    if (s == nullptr || s->queued_at != at) continue;  // stale: evicted since, or queued again later
    if (s->last_touch > idle_at) {  // touched since it was queued: due later
      s->queued_at = s->last_touch;
      idle_queue_.push({s->last_touch, id});
    } else if (const int64_t closed_by = ClosedBy(*s); closed_by > watermark_) {
      close_queue_.push({closed_by, id});  // a touch queues it again (its queued_at is old enough)
    } else {
      Evict(id, *s);
    }
  }
  while (!close_queue_.empty() && close_queue_.top().first <= watermark_) {
    const auto [closed_by, id] = close_queue_.top();
    close_queue_.pop();
    Story* s = stories_.Find(id);
    // Any story found idle and closed goes; one touched since is in idle_queue_ again.
    if (s != nullptr && s->last_touch <= idle_at && ClosedBy(*s) <= watermark_) Evict(id, *s);
  }
}

void PartitionProcessor::Evict(uint64_t id, Story& s) {
  scratch_.clear();
  EncodeStory(s, /*compact=*/true, &scratch_);
  if (Status put = cold_->Put(id, scratch_); !put.ok()) {
    status_ = put;
    return;
  }
  stories_.Erase(id);
  ++evicted_total_;
}

Status PartitionProcessor::Reload(uint64_t id) {
  std::string payload;
  RETURN_IF_ERROR(cold_->Take(id, &payload));
  auto story = std::make_unique<Story>();
  std::string_view in = payload;
  RETURN_IF_ERROR(DecodeStory(&in, kStateVersion, /*compact=*/true, story.get()));
  if (!in.empty()) return Status::Corruption("cold record of story " + std::to_string(id) + " has trailing bytes");
  for (const auto& windows : story->windows)
    for (const auto& [start, w] : windows)  // only closed stories are evicted
      if (!w.final) return Status::Corruption("cold record of story " + std::to_string(id) + " has an open window");
  Story& s = *stories_.FindOrInsert(id).first;
  s.author = story->author;
  s.totals = story->totals;
  s.viewers = std::move(story->viewers);
  s.last_touch = story->last_touch;
  for (int size = 0; size < serve::kWindowSizeCount; ++size)
    for (auto& [start, w] : story->windows[size])
      if (DropAt(size, start) > watermark_) s.windows[size].emplace(start, std::move(w));
  if (options_.story_idle_evict_ms > 0) {
    s.queued_at = s.last_touch;
    idle_queue_.push({s.last_touch, id});
  }
  ++reloaded_total_;
  return Status::Ok();
}

void PartitionProcessor::FullWrite(serve::PartitionWrite* out) {
  TakeWrite(out);
  out->stories.clear();
  out->windows.clear();
  auto add = [&](uint64_t id, const Story& s) {
    out->stories.push_back({StoryId(id), s.author, s.totals});
    for (int size = 0; size < serve::kWindowSizeCount; ++size)
      for (const auto& [start, w] : s.windows[size])
        if (DropAt(size, start) > watermark_ || !w.final)
          out->windows.push_back({{StoryId(id), static_cast<WindowSize>(size), start}, w.agg, w.final});
  };
  stories_.ForEach(add);
  if (cold_ == nullptr || !status_.ok()) return;
  Story s;
  status_ = cold_->ForEach([&](uint64_t id, std::string_view payload) {
    s = Story();
    RETURN_IF_ERROR(DecodeStory(&payload, kStateVersion, /*compact=*/true, &s));
    add(id, s);
    return Status::Ok();
  });
}

namespace {
// A stand-in for an erased id: random, never 0 nor the id.
uint64_t StandIn(uint64_t erased) {
  uint64_t v = 0;
  while (v == 0 || v == erased) RandomBytes(&v, sizeof v);
  return v;
}
}  // namespace

Result<PartitionProcessor::ErasedViewer> PartitionProcessor::EraseViewer(ViewerId viewer) {
  ErasedViewer out;
  const uint64_t v = viewer.value;
  auto erase_in = [&](Story& s) {
    bool changed = false;
    auto one = [&](ViewerSet& set) {
      if (!set.Holds(v)) return;
      uint64_t stand_in = StandIn(v);
      while (set.Holds(stand_in)) stand_in = StandIn(v);  // a set's size must not change, even by a 2^-64 chance
      if (set.Replace(key_, v, stand_in)) {
        ++out.sets;
        changed = true;
      }
    };
    one(s.viewers);
    for (auto& windows : s.windows)
      for (auto& [start, w] : windows) one(w.viewers);
    return changed;
  };
  stories_.ForEach([&](uint64_t, Story& s) { erase_in(s); });
  out.dedup_entries = dedup_.EraseViewer(viewer);
  if (cold_ == nullptr) return out;
  RETURN_IF_ERROR(status_);
  std::vector<std::pair<uint64_t, std::string>> rewritten;
  RETURN_IF_ERROR(cold_->ForEach([&](uint64_t id, std::string_view payload) {
    Story s;
    RETURN_IF_ERROR(DecodeStory(&payload, kStateVersion, /*compact=*/true, &s));
    if (!erase_in(s)) return Status::Ok();
    std::string encoded;
    EncodeStory(s, /*compact=*/true, &encoded);
    rewritten.emplace_back(id, std::move(encoded));
    return Status::Ok();
  }));
  for (const auto& [id, payload] : rewritten) RETURN_IF_ERROR(cold_->Put(id, payload));
  out.cold_stories = rewritten.size();
  return out;
}

namespace {
template <typename StoryT>
bool StoryHolds(const StoryT& s, uint64_t v) {
  if (s.viewers.Holds(v)) return true;
  for (const auto& windows : s.windows)
    for (const auto& [start, w] : windows)
      if (w.viewers.Holds(v)) return true;
  return false;
}
}  // namespace

bool PartitionProcessor::HoldsViewer(ViewerId viewer) const {
  bool held = dedup_.HoldsViewer(viewer);
  stories_.ForEach([&](uint64_t, const Story& s) { held = held || StoryHolds(s, viewer.value); });
  return held;
}

Result<bool> PartitionProcessor::ColdRecordHolds(std::string_view payload, ViewerId viewer) const {
  Story s;
  RETURN_IF_ERROR(DecodeStory(&payload, kStateVersion, /*compact=*/true, &s));
  return StoryHolds(s, viewer.value);
}

void PartitionProcessor::Serialize(std::string* out) const {
  Put64(out, (uint64_t{kStateVersion} << 32) | kStateMagic);
  Put64(out, next_offset_.value);
  Put64(out, static_cast<uint64_t>(watermark_));
  Put64(out, static_cast<uint64_t>(last_append_ms_));
  Put64(out, static_cast<uint64_t>(max_event_time_));
  Put64(out, counters_.records);
  Put64(out, counters_.duplicates);
  Put64(out, counters_.late[0]);
  Put64(out, counters_.late[1]);
  dedup_.Serialize(out);
  legacy_dedup_.Serialize(out);
  // Stories in id order so equal states serialize to equal bytes.
  std::vector<uint64_t> ids;
  ids.reserve(stories_.size());
  stories_.ForEach([&](uint64_t id, const Story&) { ids.push_back(id); });
  std::sort(ids.begin(), ids.end());
  Put64(out, ids.size());
  for (uint64_t id : ids) {
    Put64(out, id);
    EncodeStory(stories_.At(id), /*compact=*/false, out);
  }
}

void PartitionProcessor::EncodeStory(const Story& s, bool compact, std::string* out) const {
  Writer w{out, compact};
  auto viewers = [&](const ViewerSet& v) { compact ? v.SerializeCompact(out) : v.Serialize(out); };
  w.U64(s.author.value);
  w.Agg(s.totals);
  w.U64(static_cast<uint64_t>(s.last_touch));
  viewers(s.viewers);
  for (const auto& windows : s.windows) {
    w.U64(windows.size());
    for (const auto& [start, window] : windows) {
      w.U64(static_cast<uint64_t>(start));
      w.U64(window.final ? 1 : 0);
      w.Agg(window.agg);
      viewers(window.viewers);
    }
  }
}

Status PartitionProcessor::DecodeStory(std::string_view* in, uint64_t version, bool compact, Story* s) const {
  Reader r{*in, compact};
  auto viewers = [&](ViewerSet& v) { return compact ? v.RestoreCompact(key_, &r.in) : v.Restore(key_, &r.in); };
  s->author = AuthorId(r.U64());
  s->totals = r.Agg();
  s->last_touch = version >= 4 ? r.I64() : last_append_ms_;
  if (!r.ok) return Status::Corruption("processor state truncated");
  RETURN_IF_ERROR(viewers(s->viewers));
  for (int size = 0; size < serve::kWindowSizeCount; ++size) {
    auto& windows = s->windows[size];
    const int64_t span = serve::WindowMs(static_cast<WindowSize>(size));
    uint64_t count = r.U64();
    for (uint64_t j = 0; j < count && r.ok; ++j) {
      int64_t start = r.I64();
      if (!r.ok) break;
      // Event times are validated at ingest; a start outside that range is damage.
      if (start < 0 || start > kMaxWindowStart || start % span != 0)
        return Status::Corruption("processor state has an impossible window start");
      Window& w = windows[start];
      w.final = r.U64() != 0;
      w.agg = r.Agg();
      if (!r.ok) break;
      RETURN_IF_ERROR(viewers(w.viewers));
    }
  }
  if (!r.ok) return Status::Corruption("processor state truncated");
  *in = r.in;
  return Status::Ok();
}

Status PartitionProcessor::Restore(std::string_view data) {
  Reader r{data};
  uint64_t magic = r.U64();
  if (!r.ok || (magic & 0xffffffff) != kStateMagic) return Status::Corruption("not a processor state");
  const uint64_t version = magic >> 32;
  if (version < 1 || version > kStateVersion)
    return Status::Corruption("unsupported processor state version " + std::to_string(version));
  next_offset_ = LogOffset(r.U64());
  watermark_ = r.I64();
  last_append_ms_ = r.I64();
  if (version >= 3) {
    max_event_time_ = r.I64();
  } else {  // the watermark was max event time - out_of_order
    // Saturating: a damaged or hostile state must not overflow.
    max_event_time_ = watermark_ == INT64_MIN                                   ? INT64_MIN
                      : watermark_ > INT64_MAX - options_.out_of_order_ms ? INT64_MAX
                                                                          : watermark_ + options_.out_of_order_ms;
  }
  counters_.records = r.U64();
  counters_.duplicates = r.U64();
  counters_.late[0] = r.U64();
  counters_.late[1] = r.U64();
  if (!r.ok) return Status::Corruption("processor state header truncated");
  dedup_ = DedupTable(options_.dedup_ttl_ms, key_);
  legacy_dedup_ = DedupTable(options_.dedup_ttl_ms, key_);
  if (version == 1) {
    RETURN_IF_ERROR(legacy_dedup_.Restore(&r.in, DedupTable::Encoding::kIdOnly));
  } else {
    RETURN_IF_ERROR(dedup_.Restore(&r.in));
    RETURN_IF_ERROR(legacy_dedup_.Restore(&r.in));
  }
  stories_.Clear();
  uint64_t n = r.U64();
  for (uint64_t k = 0; k < n && r.ok; ++k) {
    uint64_t id = r.U64();
    if (!r.ok) break;
    auto [s, fresh] = stories_.FindOrInsert(id);
    if (!fresh) return Status::Corruption("processor state repeats story " + std::to_string(id));
    RETURN_IF_ERROR(DecodeStory(&r.in, version, /*compact=*/false, s));
  }
  if (!r.ok) return Status::Corruption("processor state truncated");
  if (!r.in.empty()) return Status::Corruption("processor state has trailing bytes");
  status_ = Status::Ok();
  return RebuildQueues();
}

Status PartitionProcessor::RebuildQueues() {
  pending_close_.clear();
  open_windows_ = 0;
  for (auto& q : pending_drop_) q.clear();
  dirty_stories_.clear();
  dirty_windows_.clear();
  dropped_.clear();
  struct Closed {
    int64_t at, start;
    uint64_t story;
  };
  std::vector<Closed> closed[serve::kWindowSizeCount];
  stories_.ForEach([&](uint64_t id, Story& s) {
    s.dirty = false;
    for (int size = 0; size < serve::kWindowSizeCount; ++size) {
      const int64_t span = serve::WindowMs(static_cast<WindowSize>(size));
      for (auto& [start, w] : s.windows[size]) {
        w.dirty = false;
        if (!w.final) {
          pending_close_[start + span + options_.allowed_lateness_ms].push_back(
              WindowKey{StoryId(id), static_cast<WindowSize>(size), start});
          ++open_windows_;
        } else {
          closed[size].push_back({DropAt(size, start), start, id});
        }
      }
    }
  });
  idle_queue_ = DueQueue();
  close_queue_ = DueQueue();
  if (options_.story_idle_evict_ms > 0) {
    stories_.ForEach([&](uint64_t id, Story& s) {
      s.queued_at = s.last_touch;
      idle_queue_.push({s.last_touch, id});
    });
  }
  if (cold_ != nullptr) {
    // A restored resident story is newer than its cold record (it was brought back before the checkpoint).
    stories_.ForEach([&](uint64_t id, Story&) { cold_->Forget(id); });
    Story s;
    RETURN_IF_ERROR(cold_->ForEach([&](uint64_t id, std::string_view payload) {
      s = Story();
      RETURN_IF_ERROR(DecodeStory(&payload, kStateVersion, /*compact=*/true, &s));
      for (int size = 0; size < serve::kWindowSizeCount; ++size)
        for (const auto& [start, w] : s.windows[size])
          if (DropAt(size, start) > watermark_) closed[size].push_back({DropAt(size, start), start, id});
      return Status::Ok();
    }));
  }
  for (int size = 0; size < serve::kWindowSizeCount; ++size) {
    std::sort(closed[size].begin(), closed[size].end(),
              [](const Closed& a, const Closed& b) { return std::tie(a.at, a.story) < std::tie(b.at, b.story); });
    for (const auto& c : closed[size]) pending_drop_[size].push_back({c.at, c.story, c.start});
  }
  return Status::Ok();
}

}  // namespace watershed::stream
