#include "serve/redis_live_store.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "serve/redis_node_client.h"
#include "serve/regional_live_store.h"

namespace watershed::serve {
namespace {

// KEYS: story hash, 5 s window hash, 1 m window hash, 5 s index, 1 m index.
// ARGV: region, next_offset (20 digits), has_story (0|1), author, totals,
//       as_of, window count, (size, start, part) per window, drop count,
//       (size, start) per drop, then n: region ids are 0..n-1.
// The whole write is refused when the story's n<region> is above the
// write's next_offset (an older replay or a zombie), else applied and
// n<region> raised to it. Returns the story hash (HGETALL) when the write
// carried the story's totals, else an empty array. Offsets are compared as
// two 10-digit halves: Lua numbers are doubles and a uint64 does not fit.
constexpr std::string_view kApplyScript = R"lua(
local r = ARGV[1]
local off = ARGV[2]
local cur = redis.call('HGET', KEYS[1], 'n' .. r)
if cur then
  local ch, oh = tonumber(string.sub(cur, 1, 10)), tonumber(string.sub(off, 1, 10))
  if ch > oh or (ch == oh and tonumber(string.sub(cur, 11)) > tonumber(string.sub(off, 11))) then
    return {}
  end
end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 't' .. r, ARGV[5], 'a' .. r, ARGV[4], 'o' .. r, ARGV[6], 'n' .. r, off)
else
  redis.call('HSET', KEYS[1], 'n' .. r, off)
end
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  local k = tonumber(ARGV[i])
  local start = ARGV[i + 1]
  if redis.call('HSET', KEYS[2 + k], start .. ':' .. r, ARGV[i + 2]) == 1 then
    redis.call('ZADD', KEYS[4 + k], start, start)
  end
  i = i + 3
end
local ndrop = tonumber(ARGV[i])
local nregions = tonumber(ARGV[#ARGV])
i = i + 1
for _ = 1, ndrop do
  local k = tonumber(ARGV[i])
  local start = ARGV[i + 1]
  if redis.call('HDEL', KEYS[2 + k], start .. ':' .. r) == 1 then
    local left = false
    for q = 0, nregions - 1 do
      if redis.call('HEXISTS', KEYS[2 + k], start .. ':' .. q) == 1 then
        left = true
        break
      end
    end
    if not left then redis.call('ZREM', KEYS[4 + k], start) end
  end
  i = i + 2
end
if ARGV[3] == '1' then return redis.call('HGETALL', KEYS[1]) end
return {}
)lua";

constexpr TopBy kAllTopBy[] = {TopBy::kViews, TopBy::kUniqueViewers, TopBy::kWatchTime, TopBy::kShares,
                               TopBy::kReplies};

std::string_view MetricName(TopBy by) {
  switch (by) {
    case TopBy::kViews: return "views";
    case TopBy::kUniqueViewers: return "unique_viewers";
    case TopBy::kWatchTime: return "watch_time_ms";
    case TopBy::kShares: return "shares";
    case TopBy::kReplies: return "replies";
  }
  return "views";
}

// 20 zero-padded digits: byte order = numeric order.
std::string Decimal20(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020" PRIu64, v);
  return buf;
}

std::string EncodeAggregates(const Aggregates& a) {
  return std::to_string(a.views) + "," + std::to_string(a.unique_viewers) + "," + std::to_string(a.watch_time_ms) +
         "," + std::to_string(a.shares) + "," + std::to_string(a.replies);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t i = s.find(sep, pos);
    if (i == std::string_view::npos) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, i - pos));
    pos = i + 1;
  }
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The first five comma-separated fields of `s` as aggregates.
bool ParseAggregates(std::string_view s, Aggregates* a) {
  auto f = Split(s, ',');
  return f.size() >= 5 && ParseNumber(f[0], &a->views) && ParseNumber(f[1], &a->unique_viewers) &&
         ParseNumber(f[2], &a->watch_time_ms) && ParseNumber(f[3], &a->shares) && ParseNumber(f[4], &a->replies);
}

Status Corrupt(std::string what) { return Status::Internal("redis live store: " + std::move(what)); }

// Rank-list members are 20-digit decimals of UINT64_MAX - id: among equal
// scores Redis orders members by their bytes, so ZREVRANGE (score
// descending, bytes descending) lists ties by id ascending, the documented
// tie rule. Plain decimal ids would order "10" before "9".
std::string RankMember(StoryId id) { return Decimal20(UINT64_MAX - id.value); }
Result<StoryId> ParseRankMember(const std::string& member) {
  uint64_t v = 0;
  if (member.size() != 20 || !ParseNumber(std::string_view(member), &v))
    return Corrupt("bad rank-list member " + member);
  return StoryId(UINT64_MAX - v);
}
// Stories-index members: 20-digit decimal ids (bytes order = id order).
std::string IdMember(StoryId id) { return Decimal20(id.value); }

// Each region's part of the story from an HGETALL reply of its hash (a part
// only for a region that wrote totals). The layout never needs every region:
// a store that holds one region's parts has only that region's fields.
Result<RegionParts> ParseStoryRegions(StoryId id, const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() % 2 != 0)
    return Corrupt("story hash reply is not a field/value array");
  std::array<std::optional<Aggregates>, kMaxRegions> totals;
  std::array<AuthorId, kMaxRegions> author_of{};
  std::array<int64_t, kMaxRegions> as_of{};
  for (size_t i = 0; i < reply.elements.size(); i += 2) {
    const std::string& field = reply.elements[i].str;
    const std::string& value = reply.elements[i + 1].str;
    int r = 0;
    if (field.size() < 2 || !ParseNumber(std::string_view(field).substr(1), &r) || r < 0 || r >= RegionCount())
      continue;
    bool ok = true;
    switch (field[0]) {
      case 't': ok = ParseAggregates(value, &totals[r].emplace()); break;
      case 'a': ok = ParseNumber(value, &author_of[r].value); break;
      case 'o': ok = ParseNumber(value, &as_of[r]); break;
      default: break;
    }
    if (!ok) return Corrupt("bad field " + field + " of story " + std::to_string(id.value));
  }
  RegionParts parts;
  for (int r = 0; r < RegionCount(); ++r) {
    if (!totals[r]) continue;
    StoryMetrics& m = parts[r].emplace();
    m.story = id;
    m.author = author_of[r];
    m.totals = *totals[r];
    m.as_of_ms = as_of[r];
  }
  return parts;
}

// The story as MemoryLiveStore would answer it (SumParts: the sum of its
// regions' parts, the lowest region's author); nullopt when no region wrote
// totals.
Result<std::optional<StoryMetrics>> ParseStory(StoryId id, const RedisReply& reply) {
  ASSIGN_OR_RETURN(RegionParts parts, ParseStoryRegions(id, reply));
  return SumParts(parts);
}

Status CheckReplies(const std::vector<RedisReply>& replies, size_t expected) {
  if (replies.size() != expected) return Corrupt("reply count mismatch");
  for (const RedisReply& r : replies)
    if (r.type == RedisReply::Type::kError) return Status::Internal("redis: " + r.str);
  return Status::Ok();
}

bool IsNoScript(const RedisReply& r) {
  return r.type == RedisReply::Type::kError && r.str.rfind("NOSCRIPT", 0) == 0;
}

struct StoryOps {
  const StoryUpdate* story = nullptr;  // the last update of the story in the write
  std::vector<const WindowUpdate*> windows;
  std::vector<const WindowKey*> drops;
};

}  // namespace

// Hands a pooled client back when it goes out of scope.
class RedisLiveStore::Lease {
 public:
  Lease(RedisLiveStore* store, std::unique_ptr<RedisClient> client) : store_(store), client_(std::move(client)) {}
  ~Lease() { store_->Release(std::move(client_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  RedisClient* operator->() { return client_.get(); }

 private:
  RedisLiveStore* store_;
  std::unique_ptr<RedisClient> client_;
};

RedisLiveStore::RedisLiveStore(RedisClientFactory factory, RedisLiveStoreOptions options)
    : factory_(std::move(factory)), options_(std::move(options)) {
  if (options_.max_clients == 0) options_.max_clients = 1;
}

RedisLiveStore::~RedisLiveStore() = default;

Result<std::unique_ptr<RedisClient>> RedisLiveStore::Acquire() {
  {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [&] { return !idle_.empty() || clients_ < options_.max_clients; });
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++clients_;  // reserve the slot while dialing outside the lock
  }
  auto made = factory_();
  if (!made.ok() || made.value() == nullptr) {
    std::lock_guard lock(mu_);
    --clients_;
    idle_cv_.notify_one();
    if (!made.ok()) return made.status();
    return Status::Internal("redis live store: client factory returned null");
  }
  return std::move(made).value();
}

void RedisLiveStore::Release(std::unique_ptr<RedisClient> client) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(client));
  idle_cv_.notify_one();
}

Result<std::vector<RedisReply>> RedisLiveStore::Run(const std::vector<RedisCommand>& commands) {
  if (commands.empty()) return std::vector<RedisReply>{};
  ASSIGN_OR_RETURN(std::unique_ptr<RedisClient> client, Acquire());
  Lease lease(this, std::move(client));
  return lease->Execute(commands);
}

Result<std::vector<RedisReply>> RedisLiveStore::RunWrites(std::vector<RedisCommand> commands) {
  const size_t writes = commands.size();
  if (options_.wait_replicas > 0) {
    // One WAIT per slot written, routed like the writes so it runs on the
    // same node connection after them (a node's later WAITs return at once).
    std::set<uint16_t> slots;
    for (size_t i = 0; i < writes; ++i) {
      if (!slots.insert(RedisSlotOf(commands[i].key)).second) continue;
      commands.push_back(RedisCommand{commands[i].key, {"WAIT", std::to_string(options_.wait_replicas),
                                                        std::to_string(options_.wait_timeout_ms)}});
    }
  }
  ASSIGN_OR_RETURN(auto replies, Run(commands));
  if (replies.size() != commands.size()) return Corrupt("reply count mismatch");
  for (size_t i = writes; i < replies.size(); ++i) {
    if (replies[i].type != RedisReply::Type::kInteger || replies[i].integer < options_.wait_replicas)
      return Status::Unavailable("redis: write reached " + std::to_string(replies[i].integer) + " of " +
                                 std::to_string(options_.wait_replicas) + " replicas (WAIT on " + commands[i].key +
                                 "); retrying");
  }
  commands_.fetch_add(replies.size() - writes);
  replies.resize(writes);
  return replies;
}

Result<int> RedisLiveStore::ConnectedReplicas() {
  ASSIGN_OR_RETURN(auto replies, Run({RedisCommand{ProgressKey(), {"INFO", "replication"}}}));
  if (replies.size() != 1 || replies[0].type != RedisReply::Type::kString)
    return Corrupt("INFO replication: " + (replies.empty() ? std::string("no reply") : replies[0].str));
  constexpr std::string_view kField = "connected_slaves:";
  const std::string& info = replies[0].str;
  const size_t at = info.find(kField);
  if (at == std::string::npos) return Corrupt("INFO replication has no connected_slaves");
  return std::atoi(info.c_str() + at + kField.size());
}

Status RedisLiveStore::PinRegionNames(const std::string& names) {
  // Stored when absent or a list `names` extends; the stored list back.
  static constexpr std::string_view kPin = R"lua(
local s = redis.call('GET', KEYS[1])
if (not s) or (string.sub(ARGV[1], 1, #s + 1) == s .. ',') then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return s
)lua";
  const std::string key = RegionNamesKey();
  ASSIGN_OR_RETURN(auto replies, Run({RedisCommand{key, {"EVAL", std::string(kPin), "1", key, names}}}));
  if (replies.size() != 1 || replies[0].type != RedisReply::Type::kString)
    return Corrupt("the region-names script: " + (replies.empty() ? std::string("no reply") : replies[0].str));
  const std::string& stored = replies[0].str;
  if (stored == names || stored.starts_with(names + ",")) return Status::Ok();
  return Status::FailedPrecondition("region-names = " + names + " does not keep the regions of the Redis live store " +
                                    key + " (" + stored +
                                    ") in their places: its fields carry region ids, so every process sharing it "
                                    "must list the names in that order (new regions appended)");
}

std::string RedisLiveStore::StoryKey(StoryId story) const {
  return options_.prefix + ":{" + std::to_string(story.value) + "}:s";
}
std::string RedisLiveStore::WindowKeyName(StoryId story, WindowSize size) const {
  return options_.prefix + ":{" + std::to_string(story.value) + "}:w" + std::string(WindowName(size));
}
std::string RedisLiveStore::WindowIndexKeyName(StoryId story, WindowSize size) const {
  return options_.prefix + ":{" + std::to_string(story.value) + "}:i" + std::string(WindowName(size));
}
std::string RedisLiveStore::ProgressKey() const { return options_.prefix + ":progress"; }
std::string RedisLiveStore::RegionNamesKey() const { return options_.prefix + ":regions"; }
std::string RedisLiveStore::RankKey(TopBy by) const { return options_.prefix + ":rank:" + std::string(MetricName(by)); }
std::string RedisLiveStore::StoriesKey() const { return options_.prefix + ":stories"; }

RedisLiveStoreStats RedisLiveStore::stats() const {
  return RedisLiveStoreStats{applies_.load(), commands_.load(), round_trips_.load()};
}

Status RedisLiveStore::Apply(const PartitionWrite& w) {
  std::map<uint64_t, StoryOps> by_story;
  for (const auto& u : w.stories) by_story[u.story.value].story = &u;
  for (const auto& u : w.windows) by_story[u.key.story.value].windows.push_back(&u);
  for (const auto& k : w.dropped_windows) by_story[k.story.value].drops.push_back(&k);

  uint64_t commands = 0, round_trips = 0;
  std::string sha;
  {
    std::lock_guard lock(mu_);
    sha = sha_;
  }
  if (sha.empty() && !by_story.empty()) {
    const std::string route = StoryKey(StoryId(by_story.begin()->first));
    ASSIGN_OR_RETURN(auto replies, Run({RedisCommand{route, {"SCRIPT", "LOAD", std::string(kApplyScript)}}}));
    RETURN_IF_ERROR(CheckReplies(replies, 1));
    if (replies[0].type != RedisReply::Type::kString) return Corrupt("SCRIPT LOAD did not return a sha");
    sha = replies[0].str;
    std::lock_guard lock(mu_);
    sha_ = sha;
  }

  const std::string region = std::to_string(static_cast<int>(w.region));
  const std::string offset = Decimal20(w.next_offset);
  const std::string as_of = std::to_string(w.as_of_ms);
  std::vector<RedisCommand> scripts;
  std::vector<StoryId> script_story;
  for (const auto& [id, ops] : by_story) {
    const StoryId story(id);
    RedisCommand c;
    c.key = StoryKey(story);
    c.args = {"EVALSHA",
              sha,
              "5",
              c.key,
              WindowKeyName(story, WindowSize::k5s),
              WindowKeyName(story, WindowSize::k1m),
              WindowIndexKeyName(story, WindowSize::k5s),
              WindowIndexKeyName(story, WindowSize::k1m),
              region,
              offset};
    if (ops.story) {
      c.args.insert(c.args.end(),
                    {"1", std::to_string(ops.story->author.value), EncodeAggregates(ops.story->totals), as_of});
    } else {
      c.args.insert(c.args.end(), {"0", "", "", ""});
    }
    c.args.push_back(std::to_string(ops.windows.size()));
    for (const WindowUpdate* u : ops.windows) {
      c.args.push_back(std::to_string(static_cast<int>(u->key.size)));
      c.args.push_back(std::to_string(u->key.start));
      c.args.push_back(EncodeAggregates(u->agg) + (u->final ? ",1" : ",0"));
    }
    c.args.push_back(std::to_string(ops.drops.size()));
    for (const WindowKey* k : ops.drops) {
      c.args.push_back(std::to_string(static_cast<int>(k->size)));
      c.args.push_back(std::to_string(k->start));
    }
    // Every possible id, not this process's count: a region appended to
    // region-names by a newer process still keeps its window indexed.
    c.args.push_back(std::to_string(kMaxRegions));
    scripts.push_back(std::move(c));
    script_story.push_back(story);
  }
  std::vector<RedisReply> replies;
  if (!scripts.empty()) {
    ASSIGN_OR_RETURN(replies, RunWrites(scripts));
    commands += scripts.size();
    ++round_trips;
  }
  if (replies.size() != scripts.size()) return Corrupt("reply count mismatch");

  // A node that does not know the script (restarted, flushed, or another
  // cluster node) runs it with EVAL, which also caches it there.
  std::vector<size_t> missing;
  for (size_t i = 0; i < replies.size(); ++i)
    if (IsNoScript(replies[i])) missing.push_back(i);
  if (!missing.empty()) {
    std::vector<RedisCommand> evals;
    for (size_t i : missing) {
      RedisCommand c = scripts[i];
      c.args[0] = "EVAL";
      c.args[1] = std::string(kApplyScript);
      evals.push_back(std::move(c));
    }
    ASSIGN_OR_RETURN(auto again, RunWrites(evals));
    commands += evals.size();
    ++round_trips;
    RETURN_IF_ERROR(CheckReplies(again, evals.size()));
    for (size_t j = 0; j < missing.size(); ++j) replies[missing[j]] = std::move(again[j]);
  }
  RETURN_IF_ERROR(CheckReplies(replies, scripts.size()));

  // Raise the top lists to the stories' new sums: one ZADD per list.
  std::map<std::string, std::vector<std::string>> zadds;  // key -> GT, score, member, ...
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].type != RedisReply::Type::kArray) return Corrupt("script did not return an array");
    if (replies[i].elements.empty()) continue;  // no totals in this write
    ASSIGN_OR_RETURN(std::optional<StoryMetrics> m, ParseStory(script_story[i], replies[i]));
    if (!m) continue;
    // A value of 0 is not listed: the zero tail of a list is read from the
    // stories index (see Top).
    const std::string member = RankMember(m->story);
    for (TopBy by : kAllTopBy) {
      const uint64_t value = TopValue(m->totals, by);
      if (value == 0) continue;
      auto& args = zadds[RankKey(by)];
      args.push_back(std::to_string(value));
      args.push_back(member);
    }
    auto& index = zadds[StoriesKey()];
    index.push_back("0");
    index.push_back(IdMember(m->story));
  }
  zadds[ProgressKey()] = {std::to_string(w.next_offset),
                           std::to_string(static_cast<int>(w.region)) + ":" + std::to_string(w.partition)};
  std::vector<RedisCommand> cmds;
  for (auto& [key, pairs] : zadds) {
    RedisCommand c;
    c.key = key;
    // GT: scores only rise (concurrent and zombie writers converge); NX for
    // the index, whose scores are all 0.
    c.args = {"ZADD", key, key == StoriesKey() ? "NX" : "GT"};
    c.args.insert(c.args.end(), pairs.begin(), pairs.end());
    cmds.push_back(std::move(c));
  }
  ASSIGN_OR_RETURN(auto zreplies, RunWrites(cmds));
  commands += cmds.size();
  ++round_trips;
  RETURN_IF_ERROR(CheckReplies(zreplies, cmds.size()));
  applies_.fetch_add(1);
  commands_.fetch_add(commands);
  round_trips_.fetch_add(round_trips);
  return Status::Ok();
}

Result<std::optional<StoryMetrics>> RedisLiveStore::GetStory(StoryId story) {
  const std::string key = StoryKey(story);
  ASSIGN_OR_RETURN(auto replies, Run({RedisCommand{key, {"HGETALL", key}}}));
  RETURN_IF_ERROR(CheckReplies(replies, 1));
  return ParseStory(story, replies[0]);
}

Result<RegionParts> RedisLiveStore::GetStoryRegions(StoryId story) {
  const std::string key = StoryKey(story);
  ASSIGN_OR_RETURN(auto replies, Run({RedisCommand{key, {"HGETALL", key}}}));
  RETURN_IF_ERROR(CheckReplies(replies, 1));
  return ParseStoryRegions(story, replies[0]);
}

Result<std::vector<SeriesPoint>> RedisLiveStore::GetSeries(StoryId story, WindowSize size, int64_t from,
                                                           int64_t to) {
  std::vector<SeriesPoint> points;
  if (from >= to) return points;
  // Scores are doubles: beyond 2^53 use infinities and filter exactly below.
  constexpr int64_t kExact = int64_t{1} << 53;
  const std::string min = from < -kExact ? "-inf" : std::to_string(from);
  const std::string max = to > kExact ? "+inf" : "(" + std::to_string(to);
  const std::string index = WindowIndexKeyName(story, size);
  ASSIGN_OR_RETURN(auto starts, Run({RedisCommand{index, {"ZRANGEBYSCORE", index, min, max}}}));
  RETURN_IF_ERROR(CheckReplies(starts, 1));
  if (starts[0].type != RedisReply::Type::kArray) return Corrupt("ZRANGEBYSCORE did not return an array");
  std::vector<int64_t> wanted;
  for (const RedisReply& e : starts[0].elements) {
    int64_t start = 0;
    if (!ParseNumber(std::string_view(e.str), &start)) return Corrupt("bad window start " + e.str);
    if (start >= from && start < to) wanted.push_back(start);
  }
  if (wanted.empty()) return points;
  // Every region's part of each start, in one HMGET. A part dropped since
  // the index was read is absent; a start with no part left is skipped.
  const std::string key = WindowKeyName(story, size);
  RedisCommand get{key, {"HMGET", key}};
  for (int64_t start : wanted)
    for (int r = 0; r < RegionCount(); ++r) get.args.push_back(std::to_string(start) + ":" + std::to_string(r));
  ASSIGN_OR_RETURN(auto parts, Run({get}));
  RETURN_IF_ERROR(CheckReplies(parts, 1));
  if (parts[0].type != RedisReply::Type::kArray ||
      parts[0].elements.size() != wanted.size() * static_cast<size_t>(RegionCount()))
    return Corrupt("HMGET of the windows returned another count");
  for (size_t i = 0; i < wanted.size(); ++i) {
    SeriesPoint p;
    p.start = wanted[i];
    p.final = true;
    bool any = false;
    for (int r = 0; r < RegionCount(); ++r) {
      const RedisReply& part = parts[0].elements[i * RegionCount() + r];
      if (part.type == RedisReply::Type::kNil) continue;
      Aggregates a;
      auto f = Split(part.str, ',');
      if (f.size() != 6 || !ParseAggregates(part.str, &a) || (f[5] != "0" && f[5] != "1"))
        return Corrupt("bad window part " + part.str);
      p.agg += a;
      p.final = p.final && f[5] == "1";
      any = true;
    }
    if (any) points.push_back(p);
  }
  return points;
}

Result<std::vector<std::optional<StoryMetrics>>> RedisLiveStore::GetStories(const std::vector<StoryId>& stories) {
  std::vector<std::optional<StoryMetrics>> out;
  out.reserve(stories.size());
  constexpr size_t kChunk = 1000;  // HGETALLs per pipeline
  for (size_t first = 0; first < stories.size(); first += kChunk) {
    const size_t n = std::min(kChunk, stories.size() - first);
    ASSIGN_OR_RETURN(auto loaded, Load({stories.begin() + static_cast<ptrdiff_t>(first),
                                        stories.begin() + static_cast<ptrdiff_t>(first + n)}));
    for (auto& m : loaded) out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<std::optional<StoryMetrics>>> RedisLiveStore::Load(const std::vector<StoryId>& stories) {
  std::vector<std::optional<StoryMetrics>> out;
  if (stories.empty()) return out;
  std::vector<RedisCommand> loads;
  for (StoryId id : stories) {
    std::string k = StoryKey(id);
    loads.push_back(RedisCommand{k, {"HGETALL", k}});
  }
  ASSIGN_OR_RETURN(auto replies, Run(loads));
  RETURN_IF_ERROR(CheckReplies(replies, loads.size()));
  for (size_t i = 0; i < replies.size(); ++i) {
    ASSIGN_OR_RETURN(std::optional<StoryMetrics> m, ParseStory(stories[i], replies[i]));
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<PartitionProgress>> RedisLiveStore::GetProgress() {
  const std::string key = ProgressKey();
  ASSIGN_OR_RETURN(auto replies, Run({RedisCommand{key, {"ZRANGE", key, "0", "-1", "WITHSCORES"}}}));
  RETURN_IF_ERROR(CheckReplies(replies, 1));
  const auto& elems = replies[0].elements;
  if (replies[0].type != RedisReply::Type::kArray || elems.size() % 2 != 0)
    return Corrupt("ZRANGE did not return member/score pairs");
  std::vector<PartitionProgress> out;
  for (size_t i = 0; i < elems.size(); i += 2) {
    const auto parts = Split(elems[i].str, ':');
    PartitionProgress p;
    int region = 0;
    double score = 0;  // Redis answers scores as doubles ("12" or "1.2e+16")
    if (parts.size() != 2 || !ParseNumber(parts[0], &region) || region < 0 || region >= RegionCount() ||
        !ParseNumber(parts[1], &p.partition) || !ParseNumber(std::string_view(elems[i + 1].str), &score) || score < 0 ||
        score > 9007199254740992.0)
      return Corrupt("bad progress entry " + elems[i].str + " = " + elems[i + 1].str);
    p.region = static_cast<Region>(region);
    p.next_offset = static_cast<uint64_t>(score);
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const PartitionProgress& a, const PartitionProgress& b) {
    return std::pair(a.region, a.partition) < std::pair(b.region, b.partition);
  });
  return out;
}

// Best first by `by`, ties by id ascending, exactly as MemoryLiveStore
// answers, reading O(limit) members and stories (the bound test counts
// them). Two parts:
//  1. The rank list, read `fetch` members at a time from the top (its order
//     is the answer's order: score descending, then id ascending, see
//     RankMember), and the members' stories loaded in one pipeline. A
//     member's score is never below its story's value (ZADD GT; it is above
//     only when a value went down, which counts never do), so past the last
//     member read (score b, id l) every story is worth at most b, and a tie
//     at b has an id above l. A candidate worth more than b, or b with an id
//     up to l, therefore ranks above every story not read: once `limit`
//     candidates are that sure, they are the answer. Otherwise (values went
//     down) `fetch` doubles.
//  2. When the list runs out first, every story worth more than 0 has been
//     read, and the rest of the answer is the stories worth 0 with the
//     lowest ids: among the first `limit` ids of the stories index, at most
//     `positive` (< limit) are worth more than 0.
Result<std::vector<StoryMetrics>> RedisLiveStore::Top(TopBy by, size_t limit) {
  std::vector<StoryMetrics> out;
  if (limit == 0) return out;
  auto better = [by](const StoryMetrics& a, const StoryMetrics& b) {
    uint64_t va = TopValue(a.totals, by), vb = TopValue(b.totals, by);
    return va != vb ? va > vb : a.story < b.story;
  };
  auto best = [&](std::vector<StoryMetrics> v) {
    const size_t take = std::min(limit, v.size());
    std::partial_sort(v.begin(), v.begin() + static_cast<ptrdiff_t>(take), v.end(), better);
    v.resize(take);
    return v;
  };
  constexpr size_t kMaxFetch = size_t{1} << 40;  // ranges take a signed 64-bit index
  const std::string key = RankKey(by);
  std::vector<StoryMetrics> read;  // the candidates of the last round
  for (size_t fetch = std::min(limit, kMaxFetch);; fetch = std::min(fetch * 2, kMaxFetch)) {
    ASSIGN_OR_RETURN(auto ranked, Run({RedisCommand{key, {"ZREVRANGE", key, "0", std::to_string(fetch - 1),
                                                           "WITHSCORES"}}}));
    RETURN_IF_ERROR(CheckReplies(ranked, 1));
    const auto& elems = ranked[0].elements;
    if (ranked[0].type != RedisReply::Type::kArray || elems.size() % 2 != 0)
      return Corrupt("ZREVRANGE did not return member/score pairs");
    std::vector<StoryId> ids;
    for (size_t i = 0; i < elems.size(); i += 2) {
      ASSIGN_OR_RETURN(StoryId id, ParseRankMember(elems[i].str));
      ids.push_back(id);
    }
    ASSIGN_OR_RETURN(auto loaded, Load(ids));
    read.clear();
    for (auto& m : loaded)
      if (m) read.push_back(std::move(*m));
    if (ids.size() < fetch) break;  // the whole list was read
    double bound = 0;
    if (!ParseNumber(std::string_view(elems.back().str), &bound)) return Corrupt("bad score " + elems.back().str);
    const StoryId last = ids.back();
    const size_t sure = static_cast<size_t>(std::count_if(read.begin(), read.end(), [&](const StoryMetrics& m) {
      const double v = static_cast<double>(TopValue(m.totals, by));
      return v > bound || (v == bound && m.story <= last);
    }));
    if (sure >= limit || fetch == kMaxFetch) return best(std::move(read));
  }

  std::vector<StoryMetrics> candidates;
  std::set<uint64_t> positive;
  for (StoryMetrics& m : read) {
    if (TopValue(m.totals, by) > 0) positive.insert(m.story.value);
    candidates.push_back(std::move(m));
  }
  if (positive.size() < limit) {
    const std::string index = StoriesKey();
    const size_t want = std::min(limit, kMaxFetch);
    ASSIGN_OR_RETURN(auto first, Run({RedisCommand{index, {"ZRANGE", index, "0", std::to_string(want - 1)}}}));
    RETURN_IF_ERROR(CheckReplies(first, 1));
    if (first[0].type != RedisReply::Type::kArray)
      return Corrupt("ZRANGE of the stories index did not return an array");
    std::set<uint64_t> have;
    for (const StoryMetrics& m : candidates) have.insert(m.story.value);
    std::vector<StoryId> more;
    for (const RedisReply& e : first[0].elements) {
      uint64_t id = 0;
      if (e.str.size() != 20 || !ParseNumber(std::string_view(e.str), &id))
        return Corrupt("bad stories index member " + e.str);
      if (!have.count(id)) more.push_back(StoryId(id));
    }
    ASSIGN_OR_RETURN(auto loaded, Load(more));
    for (auto& m : loaded)
      if (m) candidates.push_back(std::move(*m));
  }
  return best(std::move(candidates));
}

std::unique_ptr<RedisLiveStore> NewRedisNodeLiveStore(std::string host, int port, int timeout_ms,
                                                      RedisLiveStoreOptions options, RedisSecurity auth) {
  return std::make_unique<RedisLiveStore>(
      [host = std::move(host), port, timeout_ms, auth = std::move(auth)] {
        return ConnectRedisNode(host, port, timeout_ms, auth);
      },
      std::move(options));
}

}  // namespace watershed::serve
