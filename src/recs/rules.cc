#include "recs/rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/config_text.h"

namespace watershed::recs {
namespace {

constexpr int64_t kMaxId = INT64_MAX;

Status ReadIds(TableReader& r, std::string_view key, std::set<uint64_t>* out) {
  std::vector<int64_t> ids;
  if (Status s = r.Integers(key, &ids, 1, kMaxId); !s.ok()) return s;
  out->insert(ids.begin(), ids.end());
  return Status::Ok();
}

Status ReadTable(const ConfigTable& t, const std::string& path, Rules* rules, std::set<size_t>* positions,
                 std::set<uint64_t>* pinned) {
  TableReader r(t, path);
  FirstError ok;
  Status& s = ok.status;
  if (t.name.empty()) {
    int64_t k = static_cast<int64_t>(rules->top_k);
    ok(r.Integer("top_k", &k, 1, 10000));
    rules->top_k = static_cast<size_t>(k);
  } else if (t.name == "diversity" && !t.array_element) {
    int64_t author = 0, tag = 0;
    ok(r.Number("mmr_lambda", &rules->mmr_lambda, 0, 1));
    ok(r.Integer("max_per_author", &author, 0, 10000));
    ok(r.Integer("max_per_tag", &tag, 0, 10000));
    rules->max_per_author = static_cast<size_t>(author);
    rules->max_per_tag = static_cast<size_t>(tag);
  } else if (t.name == "freshness" && !t.array_element) {
    ok(r.Number("share", &rules->fresh_share, 0, 1, true));
    ok(r.Number("max_age_hours", &rules->fresh_hours, 0.001, 24 * 365, true));
  } else if (t.name == "boost" && t.array_element) {
    Rules::Boost b;
    b.name = "boost" + std::to_string(rules->boosts.size() + 1);
    ok(r.String("name", &b.name));
    ok(r.Number("factor", &b.factor, 0, 1000, true));
    if (s.ok() && b.factor <= 0) ok(r.Error("factor", "must be above 0"));
    int selectors = 0;
    for (const char* key : {"original", "authors", "tags", "items"}) selectors += r.Has(key);
    ok(r.Bool("original", &b.original));
    ok(ReadIds(r, "authors", &b.authors));
    ok(ReadIds(r, "items", &b.items));
    std::vector<std::string> tags;
    ok(r.Strings("tags", &tags));
    b.tags.insert(tags.begin(), tags.end());
    if (s.ok() && selectors != 1) ok(r.Error("factor", "a boost needs exactly one of original, authors, tags, items"));
    if (s.ok() && r.Has("original") && !b.original) ok(r.Error("original", "must be true (or leave the boost out)"));
    for (const auto& other : rules->boosts)
      if (s.ok() && other.name == b.name) ok(r.Error("name", "boost '" + b.name + "' is named twice"));
    if (s.ok()) rules->boosts.push_back(std::move(b));
  } else if (t.name == "pin" && t.array_element) {
    int64_t item = 0, position = 0;
    ok(r.Integer("item", &item, 1, kMaxId, true));
    ok(r.Integer("position", &position, 1, 10000, true));
    if (s.ok() && !pinned->insert(static_cast<uint64_t>(item)).second)
      ok(r.Error("item", "item " + std::to_string(item) + " is pinned twice"));
    if (s.ok() && !positions->insert(static_cast<size_t>(position)).second)
      ok(r.Error("position", "position " + std::to_string(position) + " has two pins"));
    if (s.ok()) rules->pins.push_back({static_cast<uint64_t>(item), static_cast<size_t>(position)});
  } else if (t.name == "block" && !t.array_element) {
    ok(ReadIds(r, "items", &rules->blocked_items));
    ok(ReadIds(r, "authors", &rules->blocked_authors));
  } else {
    const char* known = "top-level keys, [diversity], [freshness], [[boost]], [[pin]], [block]";
    return Status::InvalidArgument(path + ":" + std::to_string(t.line) + ":1: unknown table " +
                                   (t.array_element ? "[[" + t.name + "]]" : "[" + t.name + "]") + " (known: " + known +
                                   ")");
  }
  ok(r.Finish());
  return s;
}

double Cosine(std::span<const float> a, std::span<const float> b, double na, double nb) {
  if (a.empty() || b.empty() || a.size() != b.size() || na == 0 || nb == 0) return 0;
  double dot = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += static_cast<double>(a[i]) * b[i];
  return dot / (na * nb);
}

}  // namespace

Result<Rules> ParseRules(std::string_view text, const std::string& path) {
  auto tables = ParseConfigText(text, path);
  if (!tables.ok()) return tables.status();
  Rules rules;
  std::set<size_t> positions;
  std::set<uint64_t> pinned;
  for (const ConfigTable& t : *tables)
    if (Status s = ReadTable(t, path, &rules, &positions, &pinned); !s.ok()) return s;
  for (const Rules::Pin& p : rules.pins)
    if (p.position > rules.top_k)
      return Status::InvalidArgument(path + ": the pin of item " + std::to_string(p.item) + " at position " +
                                     std::to_string(p.position) + " is beyond top_k " + std::to_string(rules.top_k));
  std::sort(rules.pins.begin(), rules.pins.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
  return rules;
}

Result<Rules> LoadRules(FileSystem* fs, const std::string& path) {
  auto text = ReadWholeFile(fs, path);
  if (!text.ok()) return Status(text.status().code(), path + ": " + text.status().message());
  return ParseRules(*text, path);
}

std::vector<RankedItem> ApplyRules(const Rules& rules, std::span<const RuleCandidate> candidates, int64_t now_s,
                                   size_t k) {
  if (k == 0) k = rules.top_k;
  // 1. Blocks (and duplicates: the first entry of an item stays).
  std::vector<size_t> pool;
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const RuleCandidate& c = candidates[i];
    if (!seen.insert(c.item).second) continue;
    if (rules.blocked_items.count(c.item) || rules.blocked_authors.count(c.author)) continue;
    pool.push_back(i);
  }
  // The rank by the given score, then 2. boosts and the order by the boosted score.
  std::vector<RankedItem> info(candidates.size());
  auto by_score = [&](auto score) {
    std::stable_sort(pool.begin(), pool.end(), [&](size_t a, size_t b) {
      const double sa = score(a), sb = score(b);
      if (sa != sb) return sa > sb;
      return candidates[a].item < candidates[b].item;
    });
  };
  by_score([&](size_t i) { return candidates[i].score; });
  for (size_t r = 0; r < pool.size(); ++r) {
    RankedItem& it = info[pool[r]];
    const RuleCandidate& c = candidates[pool[r]];
    it.candidate = pool[r];
    it.score_rank = static_cast<uint32_t>(r + 1);
    it.score = c.score;
    for (const Rules::Boost& b : rules.boosts) {
      bool hit = (b.original && c.original) || b.authors.count(c.author) || b.items.count(c.item);
      for (const std::string& tag : c.tags) hit = hit || b.tags.count(tag);
      if (!hit) continue;
      it.score *= b.factor;
      it.rules.push_back("boost:" + b.name);
    }
  }
  by_score([&](size_t i) { return info[i].score; });

  // 3. Pins: the slots they hold.
  std::map<size_t, size_t> pinned_at;  // 0-based slot -> candidate
  std::unordered_map<uint64_t, size_t> by_item;
  for (size_t i : pool) by_item[candidates[i].item] = i;
  for (const Rules::Pin& p : rules.pins) {
    auto it = by_item.find(p.item);
    if (it == by_item.end() || p.position > k) continue;
    pinned_at[p.position - 1] = it->second;
  }
  std::vector<bool> taken(candidates.size(), false);
  for (const auto& [slot, i] : pinned_at) taken[i] = true;
  const size_t length = std::min(k, pool.size());

  auto fresh = [&](size_t i) {
    const RuleCandidate& c = candidates[i];
    return c.created_at_s > 0 && static_cast<double>(now_s - c.created_at_s) <= rules.fresh_hours * 3600;
  };
  // The freshness share, "if available": no more than the fresh candidates there are.
  size_t fresh_needed = 0;
  if (rules.fresh_share > 0) {
    size_t available = 0;
    for (size_t i : pool) available += fresh(i);
    fresh_needed =
        std::min(available, static_cast<size_t>(std::ceil(rules.fresh_share * static_cast<double>(length) - 1e-9)));
  }
  size_t fresh_chosen = 0;
  for (const auto& [slot, i] : pinned_at) fresh_chosen += fresh(i);

  std::unordered_map<uint64_t, size_t> per_author;
  std::unordered_map<std::string, size_t> per_tag;
  auto count = [&](size_t i) {
    ++per_author[candidates[i].author];
    for (const std::string& t : candidates[i].tags) ++per_tag[t];
  };
  for (const auto& [slot, i] : pinned_at) count(i);
  // Which cap an item breaks, if any.
  auto capped = [&](size_t i) -> const char* {
    if (rules.max_per_author && per_author[candidates[i].author] >= rules.max_per_author) return "diversity:author_cap";
    if (rules.max_per_tag)
      for (const std::string& t : candidates[i].tags)
        if (per_tag[t] >= rules.max_per_tag) return "diversity:tag_cap";
    return nullptr;
  };

  // MMR state: relevance scaled to [0, 1], each item's highest similarity to the chosen ones.
  const bool mmr = rules.mmr_lambda < 1;
  double lo = 0, hi = 0;
  if (!pool.empty()) {
    lo = hi = info[pool[0]].score;
    for (size_t i : pool) lo = std::min(lo, info[i].score), hi = std::max(hi, info[i].score);
  }
  std::vector<double> norm(candidates.size(), 0), max_sim(candidates.size(), 0);
  auto chosen_now = [&](size_t picked) {
    if (!mmr) return;
    for (size_t i : pool)
      if (!taken[i])
        max_sim[i] =
            std::max(max_sim[i], Cosine(candidates[i].embedding, candidates[picked].embedding, norm[i], norm[picked]));
  };
  if (mmr) {
    for (size_t i : pool) {
      double n = 0;
      for (float x : candidates[i].embedding) n += static_cast<double>(x) * x;
      norm[i] = std::sqrt(n);
    }
    for (const auto& [slot, i] : pinned_at) chosen_now(i);
  }

  std::vector<RankedItem> out;
  size_t pins_within = 0;
  for (const auto& [slot, i] : pinned_at) pins_within += slot < length;
  size_t free_slots_left = length - pins_within;
  std::vector<bool> placed(candidates.size(), false);
  bool free_done = false;  // no free item is left (or none keeps the caps)
  size_t next = 0;         // the first untaken item of pool: the best score left
  for (size_t slot = 0; slot < length; ++slot) {
    if (auto p = pinned_at.find(slot); p != pinned_at.end()) {
      RankedItem it = info[p->second];
      it.rules.push_back("pin");
      placed[p->second] = true;
      out.push_back(std::move(it));
      continue;
    }
    if (free_done) continue;
    --free_slots_left;
    while (next < pool.size() && taken[pool[next]]) ++next;
    if (next == pool.size()) {
      free_done = true;
      continue;
    }
    const size_t best = pool[next];
    size_t pick = SIZE_MAX;
    bool need_fresh = false, tried_fresh = false;
    for (int attempt = 0; attempt < 2 && pick == SIZE_MAX; ++attempt) {
      // First with the freshness share when it could no longer be met otherwise; then, when no fresh item keeps the
      // caps, as if there were no share.
      need_fresh = attempt == 0 && fresh_needed > fresh_chosen && fresh_needed - fresh_chosen > free_slots_left;
      if (attempt == 1 && !tried_fresh) break;
      tried_fresh = need_fresh;
      double pick_value = 0;
      for (size_t r = next; r < pool.size(); ++r) {
        const size_t i = pool[r];
        if (taken[i] || capped(i) || (need_fresh && !fresh(i))) continue;
        if (!mmr) {
          pick = i;
          break;
        }
        const double rel = hi > lo ? (info[i].score - lo) / (hi - lo) : 1;
        const double value = rules.mmr_lambda * rel - (1 - rules.mmr_lambda) * max_sim[i];
        if (pick == SIZE_MAX || value > pick_value) pick = i, pick_value = value;
      }
      if (pick == SIZE_MAX && need_fresh) fresh_needed = fresh_chosen;  // the share cannot be met
    }
    if (pick == SIZE_MAX) {  // the caps leave nothing
      free_done = true;
      continue;
    }
    const char* why = nullptr;
    if (pick != best) {
      if (const char* cap = capped(best))
        why = cap;
      else if (need_fresh && !fresh(best))
        why = "freshness";
      else
        why = "diversity:mmr";
    }
    taken[pick] = placed[pick] = true;
    count(pick);
    fresh_chosen += fresh(pick);
    chosen_now(pick);
    RankedItem it = info[pick];
    if (why) it.rules.push_back(why);
    out.push_back(std::move(it));
  }
  // Pins beyond the end of a short list follow it, in position order.
  for (const auto& [slot, i] : pinned_at) {
    if (placed[i]) continue;
    RankedItem it = info[i];
    it.rules.push_back("pin");
    out.push_back(std::move(it));
  }
  return out;
}

Result<std::unique_ptr<RulesHolder>> RulesHolder::Open(FileSystem* fs, std::string path) {
  std::unique_ptr<RulesHolder> h(new RulesHolder(fs, std::move(path)));
  auto fresh = h->Refresh();
  if (!fresh.ok()) return fresh.status();
  return h;
}

std::shared_ptr<const Rules> RulesHolder::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rules_;
}

std::string RulesHolder::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

Result<bool> RulesHolder::Refresh() {
  auto fail = [&](Status s) -> Result<bool> {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = s.message();
    return s;
  };
  auto mtime = fs_->ModifiedTimeMs(path_);
  auto size = fs_->FileSize(path_);
  if (!mtime.ok()) return fail(Status(mtime.status().code(), path_ + ": " + mtime.status().message()));
  if (!size.ok()) return fail(Status(size.status().code(), path_ + ": " + size.status().message()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rules_ && *mtime == mtime_ms_ && *size == size_) return false;
  }
  auto rules = LoadRules(fs_, path_);
  std::lock_guard<std::mutex> lock(mu_);
  mtime_ms_ = *mtime;  // a bad file is not parsed again until it changes
  size_ = *size;
  if (!rules.ok()) {
    last_error_ = rules.status().message();
    return rules.status();
  }
  rules_ = std::make_shared<const Rules>(std::move(*rules));
  last_error_.clear();
  return true;
}

}  // namespace watershed::recs
