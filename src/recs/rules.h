#pragma once
// Post-processing rules (docs/recs.md, "Rules"): what a ranked list of candidates goes through before it is
// returned — blocks, boosts, pins, a freshness share and diversity (MMR over item embeddings and at most N per
// author / per tag) — read from a rules file in the TOML subset of core/config_text.h, validated whole at load (an
// unknown key or a value out of range is an error naming the file, line and column), and reloaded on change by
// RulesHolder (a bad new file keeps the rules in force and reports why).
//
// ApplyRules, in this order:
//   1. blocks remove blocked items and every item of a blocked author (a blocked pinned item is not pinned);
//   2. boosts multiply the score of matching items (every matching boost applies; scores are meant to be >= 0,
//      e.g. the ranker's probabilities), then the list is ordered by score, ties by the lower item id;
//   3. the top K is filled slot by slot: a pinned slot takes its pinned item (when it is a candidate; pins count
//      towards the caps); any other slot takes, among the items that keep every author / tag cap, a fresh one
//      when the freshness share could no longer be met otherwise, else the best by MMR (lambda * relevance -
//      (1 - lambda) * the highest cosine similarity to an item already chosen; relevance is the score scaled to
//      [0, 1] over the candidates; lambda = 1 is plain score order). Caps are hard: when no candidate keeps them,
//      the list is shorter than K.
// Each returned item records the rules that moved it: "boost:NAME", "pin", and — when it took a slot from the
// best-scored item left — "freshness", "diversity:mmr", "diversity:author_cap" or "diversity:tag_cap".

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"

namespace watershed::recs {

struct Rules {
  size_t top_k = 50;
  // [diversity]
  double mmr_lambda = 1;      // in [0, 1]; 1 = off
  size_t max_per_author = 0;  // 0 = no cap
  size_t max_per_tag = 0;
  // [freshness]
  double fresh_share = 0;  // of the top K, in [0, 1]; 0 = off
  double fresh_hours = 24;
  // [[boost]]: one selector each (original = true, authors, tags or items).
  struct Boost {
    std::string name;
    double factor = 1;  // (0, 1000]
    bool original = false;
    std::set<uint64_t> authors, items;
    std::set<std::string> tags;
  };
  std::vector<Boost> boosts;
  // [[pin]]: 1-based positions, distinct, <= top_k; an item pinned once.
  struct Pin {
    uint64_t item = 0;
    size_t position = 0;
  };
  std::vector<Pin> pins;
  // [block]
  std::set<uint64_t> blocked_items, blocked_authors;
};

// Errors: kInvalidArgument "PATH:LINE:COLUMN: reason".
Result<Rules> ParseRules(std::string_view text, const std::string& path);
Result<Rules> LoadRules(FileSystem* fs, const std::string& path);

struct RuleCandidate {
  uint64_t item = 0;
  double score = 0;
  std::string source;  // the candidate generator that produced it (for explain)
  uint64_t author = 0;
  std::vector<std::string> tags;
  int64_t created_at_s = 0;  // unix seconds; 0 = unknown (never fresh)
  bool original = false;
  std::span<const float> embedding;  // empty: no similarity to anything
};

struct RankedItem {
  size_t candidate = 0;     // index into the candidates given
  double score = 0;         // after boosts
  uint32_t score_rank = 0;  // 1-based rank by the given score among the unblocked candidates
  std::vector<std::string> rules;
};

// At most k (0: rules.top_k) items. Candidates listing an item twice keep its first entry. Deterministic.
std::vector<RankedItem> ApplyRules(const Rules& rules, std::span<const RuleCandidate> candidates, int64_t now_s,
                                   size_t k = 0);

// The rules of a file, reloaded when it changes. Readers take a snapshot (Current) that stays valid while they hold it;
// Refresh swaps in the new rules at once or, when the new file is bad, keeps the old ones.
class RulesHolder {
 public:
  // Loads the file; an error when it is missing or bad.
  static Result<std::unique_ptr<RulesHolder>> Open(FileSystem* fs, std::string path);
  std::shared_ptr<const Rules> Current() const;
  // Re-reads the file when its modification time or size changed. Returns true when new rules are in force; an error
  // (also kept in last_error) when the file is missing or bad — the rules in force stay.
  Result<bool> Refresh();
  std::string last_error() const;

 private:
  RulesHolder(FileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  FileSystem* fs_;
  std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const Rules> rules_;
  int64_t mtime_ms_ = -1;
  uint64_t size_ = 0;
  std::string last_error_;
};

}  // namespace watershed::recs
