#pragma once
// A bounded cache of verified tokens: the exact token text -> its claims,
// so a client re-sending the same bearer token skips the signature check
// (tens of µs for RS256/ES256). Used by Verifier; public for its tests.
//
// Only tokens that verified are inserted (negative results are never
// cached), so an attacker cannot fill the cache or aim at its hash.
// Entries carry the generation of the key set they were verified with; a
// lookup under another generation misses. The cache does no time checks:
// the caller re-checks exp/nbf on every hit.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "auth/claims.h"

namespace watershed::auth {

struct TokenCacheOptions {
  // Entries across all shards (at least one per shard). Memory is roughly
  // capacity x (token size + 150 bytes).
  size_t capacity = 16384;
  // Independent shards (each a mutex and a hash table); rounded up to a power of two.
  size_t shards = 32;
  // Tests only: replaces the token hash, e.g. to force collisions.
  uint64_t (*hash_for_testing)(std::string_view token) = nullptr;
};

// Thread-safe. When a shard is full, Insert evicts with the CLOCK policy
// (an entry hit since the hand last passed gets a second chance).
class TokenCache {
 public:
  explicit TokenCache(TokenCacheOptions options = {});
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // The claims stored for exactly `token` (compared in full) under
  // `generation`, or nullopt.
  std::optional<Claims> Lookup(std::string_view token, uint64_t generation);
  // Stores or replaces the entry for `token`.
  void Insert(std::string_view token, uint64_t generation, const Claims& claims);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
    size_t size = 0;
  };
  Stats GetStats() const;

 private:
  struct Shard;
  uint64_t Hash(std::string_view token) const;
  Shard& ShardFor(uint64_t hash);

  TokenCacheOptions options_;
  size_t shard_mask_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace watershed::auth
