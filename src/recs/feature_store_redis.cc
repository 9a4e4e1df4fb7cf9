#include "recs/feature_store_redis.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "core/event.h"
#include "recs/feature_store_codec.h"

namespace watershed::recs {

using serve::RedisCommand;
using serve::RedisReply;

namespace {

// KEYS: meta, active, then the state keys. ARGV: expected version ('' when
// none yet), new watermark, position field ('' for none), new position,
// max_viewers, viewers left after an eviction, viewer key prefix, n, the n
// states, then (score, member) pairs for the active index. Returns 0 on a
// version conflict (nothing written), else 1 + the viewers evicted.
constexpr std::string_view kWriteScript = R"lua(
if (redis.call('HGET', KEYS[1], 'version') or '') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[8])
for i = 1, n do redis.call('SET', KEYS[2 + i], ARGV[8 + i]) end
for i = 9 + n, #ARGV, 2 do redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'wm', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) end
redis.call('HINCRBY', KEYS[1], 'version', 1)
local cap = tonumber(ARGV[5])
if cap > 0 then
  local count = redis.call('ZCARD', KEYS[2])
  if count > cap then
    local gone = redis.call('ZPOPMIN', KEYS[2], count - tonumber(ARGV[6]))
    for j = 1, #gone, 2 do redis.call('DEL', ARGV[7] .. gone[j]) end
    return 1 + #gone / 2
  end
end
return 1
)lua";

// KEYS: meta, active, the viewer's key. ARGV: the viewer's member in active. Returns 1 when a state was deleted.
constexpr std::string_view kEraseScript = R"lua(
local n = redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return n
)lua";

std::string Decimal20(uint64_t v) {
  char buf[21];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(v));
  return buf;
}

std::string ConfigText(const FeatureStoreConfig& c) {
  return std::to_string(c.history_length) + "," + std::to_string(c.max_tag_affinities) + "," +
         std::to_string(c.max_author_affinities) + "," + std::to_string(c.affinity_half_life_ms) + "," +
         std::to_string(c.trending_half_life_ms);
}

std::string PositionField(uint8_t region, uint32_t partition) {
  return "p:" + std::to_string(region) + ":" + std::to_string(partition);
}

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

Status Corrupt(const std::string& what) { return Status::Corruption("redis feature store: " + what); }

// An optional string reply (nil: absent).
Result<std::optional<std::string>> StringOf(const RedisReply& r) {
  if (r.type == RedisReply::Type::kNil) return std::optional<std::string>();
  if (r.type == RedisReply::Type::kString) return std::optional<std::string>(r.str);
  if (r.type == RedisReply::Type::kError) return Status::Internal("redis feature store: " + r.str);
  return Corrupt("expected a string reply");
}

Result<int64_t> WatermarkOf(const RedisReply& r) {
  ASSIGN_OR_RETURN(auto text, StringOf(r));
  int64_t wm = INT64_MIN;
  if (text && !ParseInt(*text, &wm)) return Corrupt("the watermark is not a number: " + *text);
  return wm;
}

}  // namespace

RedisFeatureStore::RedisFeatureStore(std::unique_ptr<serve::RedisClient> client, const FeatureStoreConfig& config,
                                     RedisFeatureStoreOptions options)
    : client_(std::move(client)), config_(config), options_(std::move(options)), tag_("{" + options_.prefix + "}") {}

std::string RedisFeatureStore::ViewerKey(uint64_t viewer) const { return tag_ + ":v:" + Decimal20(viewer); }
std::string RedisFeatureStore::ItemKey(uint64_t item) const { return tag_ + ":i:" + Decimal20(item); }

Result<std::vector<RedisReply>> RedisFeatureStore::Run(std::vector<RedisCommand> commands) const {
  ++stats_.round_trips;
  ASSIGN_OR_RETURN(auto replies, client_->Execute(commands));
  if (replies.size() != commands.size()) return Corrupt("reply count differs from the commands'");
  return replies;
}

Result<std::unique_ptr<RedisFeatureStore>> RedisFeatureStore::Open(std::unique_ptr<serve::RedisClient> client,
                                                                   const FeatureStoreConfig& config,
                                                                   RedisFeatureStoreOptions options) {
  RETURN_IF_ERROR(ValidateFeatureStoreConfig(config));
  if (options.prefix.empty() || options.prefix.find_first_of("{}") != std::string::npos)
    return Status::InvalidArgument("redis feature store: the prefix must be non-empty, without braces");
  std::unique_ptr<RedisFeatureStore> s(new RedisFeatureStore(std::move(client), config, std::move(options)));
  const std::string meta = s->MetaKey(), text = ConfigText(config);
  ASSIGN_OR_RETURN(auto replies, s->Run({{meta, {"HSETNX", meta, "config", text}},
                                         {meta, {"HMGET", meta, "config", "wm"}},
                                         {meta, {"SCRIPT", "LOAD", std::string(kWriteScript)}}}));
  for (const RedisReply& r : replies)
    if (r.type == RedisReply::Type::kError) return Status::Internal("redis feature store: " + r.str);
  if (replies[1].type != RedisReply::Type::kArray || replies[1].elements.size() != 2)
    return Corrupt("HMGET did not return two values");
  ASSIGN_OR_RETURN(auto stored, StringOf(replies[1].elements[0]));
  if (stored != text)
    return Status::FailedPrecondition("redis feature store " + meta + " was written with the configuration " +
                                      stored.value_or("?") + " (history, tags, authors, half-lives in ms), not " +
                                      text + "; use another prefix or delete its keys");
  ASSIGN_OR_RETURN(s->watermark_, WatermarkOf(replies[1].elements[1]));
  if (replies[2].type != RedisReply::Type::kString) return Corrupt("SCRIPT LOAD did not return a sha");
  s->sha_ = replies[2].str;
  return s;
}

Status RedisFeatureStore::Write(std::vector<uint64_t> viewers, std::vector<uint64_t> items, const LogRange* range,
                                const std::function<Status(EmbeddedFeatureStore*)>& change) {
  std::sort(viewers.begin(), viewers.end());
  viewers.erase(std::unique(viewers.begin(), viewers.end()), viewers.end());
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  const std::string meta = MetaKey();
  const std::string position_field = range ? PositionField(range->region, range->partition) : "";
  for (int attempt = 0; attempt <= options_.max_conflicts; ++attempt) {
    // Read: the version first, so a write landing after it fails our script.
    std::vector<RedisCommand> reads;
    reads.push_back({meta, {"HMGET", meta, "version", "wm", range ? position_field : "version"}});
    for (uint64_t v : viewers) reads.push_back({meta, {"GET", ViewerKey(v)}});
    for (uint64_t i : items) reads.push_back({meta, {"GET", ItemKey(i)}});
    ASSIGN_OR_RETURN(auto replies, Run(std::move(reads)));
    const RedisReply& m = replies[0];
    if (m.type == RedisReply::Type::kError) return Status::Internal("redis feature store: " + m.str);
    if (m.type != RedisReply::Type::kArray || m.elements.size() != 3) return Corrupt("HMGET did not return 3 values");
    ASSIGN_OR_RETURN(auto version, StringOf(m.elements[0]));
    ASSIGN_OR_RETURN(watermark_, WatermarkOf(m.elements[1]));

    FeatureStoreConfig transient_config = config_;
    transient_config.max_viewers = 0;  // the script evicts, over every viewer
    std::unique_ptr<EmbeddedFeatureStore> work(new EmbeddedFeatureStore(transient_config));
    work->watermark_ = watermark_;
    if (range) {
      ASSIGN_OR_RETURN(auto position, StringOf(m.elements[2]));
      uint64_t next = 0;
      if (position && !ParseInt(*position, &next)) return Corrupt(position_field + " is not a number");
      work->positions_[{range->region, range->partition}] = next;
    }
    size_t k = 1;
    for (uint64_t v : viewers) {
      ASSIGN_OR_RETURN(auto bytes, StringOf(replies[k++]));
      if (!bytes) continue;
      codec::Reader r(*bytes);
      EmbeddedFeatureStore::ViewerState state;
      // The watermark is not checked against: it was read before the states.
      if (std::string why = codec::GetViewerState(&r, config_, INT64_MAX, &state); !why.empty() || r.left() != 0)
        return Corrupt(ViewerKey(v) + ": " + (why.empty() ? "bytes after the state" : why));
      work->viewers_.emplace(v, std::move(state));
    }
    for (uint64_t i : items) {
      ASSIGN_OR_RETURN(auto bytes, StringOf(replies[k++]));
      if (!bytes) continue;
      codec::Reader r(*bytes);
      EmbeddedFeatureStore::ItemState state;
      if (std::string why = codec::GetItemState(&r, INT64_MAX, &state); !why.empty() || r.left() != 0)
        return Corrupt(ItemKey(i) + ": " + (why.empty() ? "bytes after the state" : why));
      work->items_.emplace(i, std::move(state));
    }

    RETURN_IF_ERROR(change(work.get()));

    RedisCommand script{meta, {"EVALSHA", sha_, "", meta, ActiveKey()}};
    std::vector<std::string> states;
    std::vector<std::string> active;
    for (uint64_t v : viewers) {
      auto it = work->viewers_.find(v);
      if (it == work->viewers_.end()) continue;
      script.args.push_back(ViewerKey(v));
      codec::Writer w;
      codec::PutViewerState(&w, it->second);
      states.push_back(std::move(w.out()));
      active.push_back(std::to_string(it->second.last_active_ms()));
      active.push_back(Decimal20(v));
    }
    for (uint64_t i : items) {
      auto it = work->items_.find(i);
      if (it == work->items_.end()) continue;
      script.args.push_back(ItemKey(i));
      codec::Writer w;
      codec::PutItemState(&w, it->second);
      states.push_back(std::move(w.out()));
    }
    script.args[2] = std::to_string(2 + states.size());
    const uint64_t bound = config_.max_viewers;
    script.args.insert(script.args.end(), {version.value_or(""), std::to_string(work->watermark_), position_field,
                                           range ? std::to_string(range->next_offset) : "", std::to_string(bound),
                                           std::to_string(bound == 0 ? 0 : ViewersAfterEviction(bound)),
                                           tag_ + ":v:", std::to_string(states.size())});
    for (std::string& s : states) script.args.push_back(std::move(s));
    for (std::string& a : active) script.args.push_back(std::move(a));

    ASSIGN_OR_RETURN(auto done, Run({script}));
    if (done[0].type == RedisReply::Type::kError && done[0].str.rfind("NOSCRIPT", 0) == 0) {
      script.args[0] = "EVAL";  // the script cache was flushed (or a failover): send the text
      script.args[1] = std::string(kWriteScript);
      ASSIGN_OR_RETURN(done, Run({script}));
    }
    if (done[0].type == RedisReply::Type::kError) return Status::Internal("redis feature store: " + done[0].str);
    if (done[0].type != RedisReply::Type::kInteger) return Corrupt("the write script returned no number");
    if (done[0].integer > 0) {
      watermark_ = work->watermark_;
      stats_.evicted_viewers += static_cast<uint64_t>(done[0].integer - 1);
      return Status::Ok();
    }
    ++stats_.conflicts;
  }
  return Status::Unavailable("redis feature store: " + std::to_string(options_.max_conflicts) +
                             " writes in a row lost to other writers");
}

Status RedisFeatureStore::PutItem(uint64_t item, const ItemInfo& info) {
  return Write({}, {item}, nullptr, [&](EmbeddedFeatureStore* s) { return s->PutItem(item, info); });
}

Status RedisFeatureStore::Apply(const FeatureEvent& event) {
  return Write({event.viewer}, {event.item}, nullptr, [&](EmbeddedFeatureStore* s) { return s->Apply(event); });
}

Status RedisFeatureStore::ApplyLogBatch(const LogRange& range, const std::vector<FeatureEvent>& events) {
  std::vector<uint64_t> viewers, items;
  for (const FeatureEvent& e : events) {
    viewers.push_back(e.viewer);
    items.push_back(e.item);
  }
  return Write(std::move(viewers), std::move(items), &range,
               [&](EmbeddedFeatureStore* s) { return s->ApplyLogBatch(range, events); });
}

Result<std::vector<LogPosition>> RedisFeatureStore::Positions() const {
  const std::string meta = MetaKey();
  ASSIGN_OR_RETURN(auto replies, Run({{meta, {"HGETALL", meta}}}));
  const RedisReply& all = replies[0];
  if (all.type == RedisReply::Type::kError) return Status::Internal("redis feature store: " + all.str);
  if (all.type != RedisReply::Type::kArray || all.elements.size() % 2 != 0) return Corrupt("HGETALL: not pairs");
  std::vector<LogPosition> out;
  for (size_t i = 0; i < all.elements.size(); i += 2) {
    const std::string& field = all.elements[i].str;
    if (field.rfind("p:", 0) != 0) continue;
    const size_t colon = field.find(':', 2);
    uint32_t region = 0, partition = 0;
    LogPosition p;
    if (colon == std::string::npos || !ParseInt(std::string_view(field).substr(2, colon - 2), &region) ||
        region >= kMaxRegions || !ParseInt(std::string_view(field).substr(colon + 1), &partition) ||
        !ParseInt(all.elements[i + 1].str, &p.next_offset))
      return Corrupt(meta + " has a bad position field " + field);
    p.region = static_cast<uint8_t>(region);
    p.partition = partition;
    if (p.next_offset != 0) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const LogPosition& a, const LogPosition& b) {
    return std::pair(a.region, a.partition) < std::pair(b.region, b.partition);
  });
  return out;
}

Result<std::unique_ptr<EmbeddedFeatureStore>> RedisFeatureStore::Load(const uint64_t* viewer,
                                                                      const uint64_t* item) const {
  const std::string meta = MetaKey();
  const std::string key = viewer ? ViewerKey(*viewer) : ItemKey(*item);
  ASSIGN_OR_RETURN(auto replies, Run({{meta, {"HGET", meta, "wm"}}, {meta, {"GET", key}}}));
  ASSIGN_OR_RETURN(watermark_, WatermarkOf(replies[0]));
  std::unique_ptr<EmbeddedFeatureStore> work(new EmbeddedFeatureStore(config_));
  work->watermark_ = watermark_;
  ASSIGN_OR_RETURN(auto bytes, StringOf(replies[1]));
  if (!bytes) return work;
  codec::Reader r(*bytes);
  std::string why;
  if (viewer) {
    EmbeddedFeatureStore::ViewerState state;
    why = codec::GetViewerState(&r, config_, INT64_MAX, &state);
    work->viewers_.emplace(*viewer, std::move(state));
  } else {
    EmbeddedFeatureStore::ItemState state;
    why = codec::GetItemState(&r, INT64_MAX, &state);
    work->items_.emplace(*item, std::move(state));
  }
  if (!why.empty() || r.left() != 0) return Corrupt(key + ": " + (why.empty() ? "bytes after the state" : why));
  return work;
}

Result<bool> RedisFeatureStore::EraseViewer(uint64_t viewer) {
  const std::string meta = MetaKey();
  ASSIGN_OR_RETURN(
      auto done,
      Run({{meta, {"EVAL", std::string(kEraseScript), "3", meta, ActiveKey(), ViewerKey(viewer), Decimal20(viewer)}}}));
  if (done[0].type == RedisReply::Type::kError) return Status::Internal("redis feature store: " + done[0].str);
  if (done[0].type != RedisReply::Type::kInteger) return Corrupt("the erase script returned no number");
  return done[0].integer > 0;
}

Result<bool> RedisFeatureStore::HoldsViewer(uint64_t viewer) const {
  ASSIGN_OR_RETURN(auto replies, Run({{MetaKey(), {"EXISTS", ViewerKey(viewer)}}}));
  if (replies[0].type != RedisReply::Type::kInteger) return Corrupt("EXISTS returned no number");
  return replies[0].integer > 0;
}

Result<ViewerFeaturesAt> RedisFeatureStore::Viewer(uint64_t viewer, int64_t as_of_ms) const {
  ASSIGN_OR_RETURN(auto work, Load(&viewer, nullptr));
  return work->Viewer(viewer, as_of_ms);
}

Result<ItemFeaturesAt> RedisFeatureStore::Item(uint64_t item, int64_t as_of_ms) const {
  ASSIGN_OR_RETURN(auto work, Load(nullptr, &item));
  return work->Item(item, as_of_ms);
}

Result<uint64_t> RedisFeatureStore::NumViewers() const {
  ASSIGN_OR_RETURN(auto replies, Run({{MetaKey(), {"ZCARD", ActiveKey()}}}));
  if (replies[0].type != RedisReply::Type::kInteger) return Corrupt("ZCARD did not return a number");
  return static_cast<uint64_t>(replies[0].integer);
}

}  // namespace watershed::recs
