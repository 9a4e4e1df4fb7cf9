// Fuzzes the hand-written files of recommendations' post-processing and A/B experiments (core/config_text.h,
// recs/rules.h, recs/experiments.h, recs/experiment_stats.h). The first byte picks the reader:
//  * 0 (mod 4): a rules file; when it loads, the rules are applied to a fixed list of candidates;
//  * 1: an experiments file; when it loads, a few users are assigned and every arm's params read as serving reads
//    them (recs/serving_arms.h);
//  * 2: an exposure log;
//  * 3: an events CSV.
// Properties checked (a violation traps): no input crashes, hangs or trips a sanitizer; every error names the file
// ("fuzz:..."); applied rules return at most K distinct, unblocked candidates with each pin (that is a candidate
// and within K) at its position; an assignment is at most one arm of an experiment per layer, within its bucket
// range; an arm's params either are an error naming the experiment and arm or set values within their ranges; a
// decoded exposure log re-encodes to the very bytes of its complete lines.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "recs/experiment_stats.h"
#include "recs/experiments.h"
#include "recs/rules.h"
#include "recs/serving_arms.h"

namespace {

using namespace watershed::recs;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool NamesFile(const watershed::Status& s) { return s.message().rfind("fuzz:", 0) == 0; }

void RulesFile(std::string_view text) {
  auto rules = ParseRules(text, "fuzz");
  if (!rules.ok()) {
    Check(NamesFile(rules.status()));
    return;
  }
  std::vector<RuleCandidate> c(40);
  std::vector<std::vector<float>> emb(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    c[i].item = i % 37 + 1;  // a few duplicates
    c[i].score = static_cast<double>((i * 7) % 11);
    c[i].author = i % 5 + 1;
    c[i].tags = {std::string(1, static_cast<char>('a' + i % 3))};
    c[i].created_at_s = 1'000'000 - static_cast<int64_t>(i) * 3600;
    c[i].original = i % 4 == 0;
    emb[i] = {static_cast<float>(i % 3), static_cast<float>(i % 2), 1};
    c[i].embedding = emb[i];
  }
  for (size_t k : {size_t{0}, size_t{3}}) {
    const auto out = ApplyRules(*rules, c, 1'000'000, k);
    const size_t limit = k ? k : rules->top_k;
    Check(out.size() <= limit);
    std::set<uint64_t> seen;
    for (size_t pos = 0; pos < out.size(); ++pos) {
      const RuleCandidate& x = c[out[pos].candidate];
      Check(seen.insert(x.item).second);
      Check(!rules->blocked_items.count(x.item) && !rules->blocked_authors.count(x.author));
    }
    for (const Rules::Pin& p : rules->pins) {
      bool candidate = false;  // the item's first entry (the one ApplyRules keeps) is not blocked
      for (const RuleCandidate& x : c) {
        if (x.item != p.item) continue;
        candidate = !rules->blocked_items.count(x.item) && !rules->blocked_authors.count(x.author);
        break;
      }
      if (!candidate || p.position > limit || p.position > out.size()) continue;
      Check(c[out[p.position - 1].candidate].item == p.item);
    }
  }
}

void ExperimentsFile(std::string_view text) {
  auto config = ParseExperimentConfig(text, "fuzz");
  if (!config.ok()) {
    Check(NamesFile(config.status()));
    return;
  }
  for (uint64_t user : {uint64_t{1}, uint64_t{42}, uint64_t{1} << 40}) {
    const auto assigned = Assign(*config, user);
    Check(assigned.size() <= config->layers.size());
    std::set<std::string> layers;
    for (const Assignment& a : assigned) {
      Check(layers.insert(a.experiment->layer).second);
      Check(a.experiment->FindArm(a.arm->name) == a.arm);
      const uint32_t bucket = SaltedHash(
                                  [&] {
                                    for (const Layer& l : config->layers)
                                      if (l.name == a.experiment->layer) return l.salt;
                                    return std::string();
                                  }(),
                                  user) %
                              kLayerBuckets;
      Check(bucket >= a.experiment->first_bucket && bucket < a.experiment->end_bucket);
    }
  }
  for (const Experiment& e : config->experiments)
    for (const Arm& arm : e.arms) {
      auto params = ParseArmParams(e, arm);
      if (!params.ok()) {
        Check(params.status().message().rfind("experiment " + e.name + ", arm " + arm.name + ": params.", 0) == 0);
        continue;
      }
      Rules rules;
      CandidateConfig candidates;
      std::map<std::string, bool> taken;
      params->ApplyTo(&rules, &candidates, &taken);
      Check(rules.mmr_lambda >= 0 && rules.mmr_lambda <= 1 && rules.fresh_share >= 0 && rules.fresh_share <= 1);
      Check(candidates.total >= 1 && candidates.total <= 100'000 && taken.size() == arm.params.size());
    }
}

void ExposureLogBytes(std::string_view data) {
  auto log = DecodeExposureLog(data, "fuzz");
  if (!log.ok()) {
    Check(NamesFile(log.status()));
    return;
  }
  std::string again;
  for (const Exposure& e : log->exposures) again += EncodeExposure(e);
  Check(again == data.substr(0, data.size() - log->torn_bytes));
}

void EventsCsv(std::string_view text) {
  auto events = ParseEventsCsv(text, "fuzz");
  if (!events.ok()) Check(NamesFile(events.status()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      RulesFile(body);
      break;
    case 1:
      ExperimentsFile(body);
      break;
    case 2:
      ExposureLogBytes(body);
      break;
    default:
      EventsCsv(body);
  }
  return 0;
}
