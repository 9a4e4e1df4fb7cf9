#include "auth/token_cache.h"

#include <bit>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace watershed::auth {
namespace {

// A token and its precomputed hash; the hash table keys on it without
// copying the token or hashing it twice.
struct TokenRef {
  std::string_view token;
  uint64_t hash;
};
struct TokenRefHash {
  size_t operator()(const TokenRef& r) const { return static_cast<size_t>(r.hash); }
};
struct TokenRefEq {
  bool operator()(const TokenRef& a, const TokenRef& b) const { return a.hash == b.hash && a.token == b.token; }
};

struct Slot {
  std::string token;
  uint64_t hash = 0;
  uint64_t generation = 0;
  Claims claims;
  bool referenced = false;
};

}  // namespace

struct alignas(64) TokenCache::Shard {
  std::mutex mu;
  size_t capacity = 0;
  // Reserved to capacity up front and never reallocated, so the index's
  // string_views into slot tokens stay valid.
  std::vector<Slot> slots;
  std::unordered_map<TokenRef, uint32_t, TokenRefHash, TokenRefEq> index;
  size_t hand = 0;
  uint64_t hits = 0, misses = 0, evictions = 0;
};

TokenCache::TokenCache(TokenCacheOptions options) : options_(options) {
  size_t shards = std::bit_ceil(std::max<size_t>(options_.shards, 1));
  shard_mask_ = shards - 1;
  shards_ = std::make_unique<Shard[]>(shards);
  const size_t per_shard = std::max<size_t>(1, (options_.capacity + shards - 1) / shards);
  for (size_t i = 0; i < shards; ++i) {
    shards_[i].capacity = per_shard;
    shards_[i].slots.reserve(per_shard);
    shards_[i].index.reserve(per_shard);
  }
}

TokenCache::~TokenCache() = default;

uint64_t TokenCache::Hash(std::string_view token) const {
  if (options_.hash_for_testing != nullptr) return options_.hash_for_testing(token);
  return std::hash<std::string_view>{}(token);
}

TokenCache::Shard& TokenCache::ShardFor(uint64_t hash) {
  // High bits pick the shard; the table inside uses all of them.
  return shards_[(hash >> 40) & shard_mask_];
}

std::optional<Claims> TokenCache::Lookup(std::string_view token, uint64_t generation) {
  const uint64_t h = Hash(token);
  Shard& shard = ShardFor(h);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.index.find(TokenRef{token, h});
  if (it == shard.index.end() || shard.slots[it->second].generation != generation) {
    ++shard.misses;
    return std::nullopt;
  }
  Slot& slot = shard.slots[it->second];
  slot.referenced = true;
  ++shard.hits;
  return slot.claims;
}

void TokenCache::Insert(std::string_view token, uint64_t generation, const Claims& claims) {
  const uint64_t h = Hash(token);
  Shard& shard = ShardFor(h);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.index.find(TokenRef{token, h});
  if (it != shard.index.end()) {
    Slot& slot = shard.slots[it->second];
    slot.generation = generation;
    slot.claims = claims;
    return;
  }
  uint32_t at;
  if (shard.slots.size() < shard.capacity) {
    at = static_cast<uint32_t>(shard.slots.size());
    shard.slots.emplace_back();
  } else {
    // CLOCK: at most one full turn clears every referenced bit.
    while (shard.slots[shard.hand].referenced) {
      shard.slots[shard.hand].referenced = false;
      shard.hand = (shard.hand + 1) % shard.capacity;
    }
    at = static_cast<uint32_t>(shard.hand);
    shard.hand = (shard.hand + 1) % shard.capacity;
    Slot& victim = shard.slots[at];
    shard.index.erase(TokenRef{victim.token, victim.hash});
    ++shard.evictions;
  }
  Slot& slot = shard.slots[at];
  slot.token.assign(token);
  slot.hash = h;
  slot.generation = generation;
  slot.claims = claims;
  slot.referenced = false;
  shard.index.emplace(TokenRef{slot.token, h}, at);
}

TokenCache::Stats TokenCache::GetStats() const {
  Stats s;
  for (size_t i = 0; i <= shard_mask_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard<std::mutex> lock(shard.mu);
    s.hits += shard.hits;
    s.misses += shard.misses;
    s.evictions += shard.evictions;
    s.size += shard.slots.size();
  }
  return s;
}

}  // namespace watershed::auth
