// Serving with A/B experiments, per-region trending and published items (recs/serving.h, serving_arms.h): each
// answer served by its arm's model version and parameters, naming its arms, with an exposure logged that the
// experiment report joins outcomes to; a bad experiments file; an exposure that cannot be logged; cold-start users
// of two regions; stories published after training embedded by the tower and added to the index online.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <set>

#include "recs/experiment_stats.h"
#include "recs/serving.h"
#include "recs/stored_model.h"
#include "recs/stored_tower.h"
#include "recs/testing/serving_world.h"
#include "recs/two_tower.h"

namespace watershed::recs {
namespace {

using testing::Ext;
using testing::kExperiments;
using testing::kNow;
using testing::Make;
using testing::WithExperiments;
using testing::World;

using Answer = std::vector<std::pair<uint64_t, double>>;
Answer Items(const Recommendations& r) {
  Answer a;
  for (const Recommendation& i : r.items) a.emplace_back(i.item, i.score);
  return a;
}

TEST(RecsServingExperiments, ArmsServeTheirVersionAndParamsEveryAnswerIsAnExposureAndTheReportJoinsOutcomes) {
  auto w = Make(0.8);
  // Each version's answers without experiments: what the arms that change nothing else must answer.
  std::map<std::string, std::unique_ptr<RecsService>> plain;
  ASSERT_TRUE(w->registry.Promote("stories", 2).ok());
  plain["stories@2"] = w->Open();
  ASSERT_TRUE(w->registry.Promote("stories", 1).ok());
  plain["stories@1"] = w->Open();
  const RecsServiceOptions o = WithExperiments(*w, kExperiments);
  auto service = RecsService::Open(FileSystem::Default(), o, w->locked.get(), nullptr, kNow);
  ASSERT_TRUE(service.ok()) << service.status().message();
  const ExperimentConfig config = ParseExperimentConfig(kExperiments, "x").value();

  std::map<std::string, Recommendations> by_request;
  std::map<std::string, int> arms;
  int capped_differs = 0;
  for (uint32_t u = 0; u < w->b.data.num_users(); ++u) {
    const uint64_t user = Ext(w->b.data.users, u);
    auto r = (*service)->Recommend(user, kAllRegions, 10, kNow);
    ASSERT_TRUE(r.ok()) << r.status().message();
    std::vector<ServedArm> expected;
    for (const Assignment& a : Assign(config, user)) expected.push_back({a.experiment->name, a.arm->name});
    ASSERT_EQ(r->arms, expected) << user;
    ASSERT_FALSE(r->arms.empty());
    EXPECT_EQ(r->model, r->arms[0].arm == "treatment" ? "stories@2" : "stories@1");
    const Answer alone = Items(plain.at(r->model)->Recommend(user, kAllRegions, 10, kNow).value());
    const bool capped = r->arms.size() == 2 && r->arms[1].arm == "capped";
    if (capped) {
      std::map<uint32_t, int> per_tag;
      for (const Recommendation& item : r->items)
        for (uint32_t t : w->b.data.features[w->b.data.items.Find(std::to_string(item.item))].tags)
          EXPECT_LE(++per_tag[t], 2) << "user " << user << " tag " << t;
      capped_differs += Items(*r) != alone;
    } else {
      EXPECT_EQ(Items(*r), alone) << "user " << user;  // the arm's version, nothing else changed
    }
    for (const ServedArm& a : r->arms) ++arms[a.experiment + "/" + a.arm];
    const std::string json = RecommendationsJson(*r, false);
    EXPECT_NE(json.find("\"experiments\":[{\"experiment\":\"bpr-seed\",\"arm\":\"" + r->arms[0].arm + "\"}"),
              std::string::npos)
        << json;
    by_request[r->request_id] = std::move(*r);
  }
  const size_t users = w->b.data.num_users();
  ASSERT_EQ(by_request.size(), users);  // request ids are distinct
  EXPECT_EQ(arms["bpr-seed/control"] + arms["bpr-seed/treatment"], static_cast<int>(users));
  EXPECT_GT(arms["bpr-seed/treatment"], static_cast<int>(users) / 3);
  EXPECT_GT(arms["tag-cap/capped"], 0);
  EXPECT_GT(arms["tag-cap/open"], 0);
  EXPECT_GT(capped_differs, 0);  // the parameter changed answers
  EXPECT_TRUE((*service)->SyncExposures().ok());
  EXPECT_EQ((*service)->exposures_logged(), users + arms["tag-cap/capped"] + arms["tag-cap/open"]);

  // Every answer is an exposure: request id, user, arm and items as served.
  auto log = ReadExposures(FileSystem::Default(), o.exposures_dir, "bpr-seed");
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->exposures.size(), users);
  std::vector<EngagementEvent> outcomes;
  for (const Exposure& e : log->exposures) {
    const Recommendations& r = by_request.at(e.request_id);
    EXPECT_EQ(e.user, r.user);
    EXPECT_EQ(e.arm, r.arms[0].arm);
    EXPECT_EQ(e.time_ms, kNow);
    std::vector<uint64_t> items;
    for (const Recommendation& i : r.items) items.push_back(i.item);
    EXPECT_EQ(e.items, items);
    // Outcomes: each user watches the first item; the treatment's users watch it longer. Also a view of an item
    // not recommended, which must not count.
    const uint32_t watch = (e.arm == "treatment" ? 40'000 : 20'000) + static_cast<uint32_t>(e.user % 7) * 1000;
    outcomes.push_back({.viewer = e.user, .story = e.items[0], .watch_ms = watch, .event_time_ms = kNow + 60'000});
    outcomes.push_back({.viewer = e.user, .story = 999'999, .watch_ms = 50'000, .event_time_ms = kNow + 60'000});
  }
  EXPECT_EQ(ReadExposures(FileSystem::Default(), o.exposures_dir, "tag-cap")->exposures.size(),
            static_cast<size_t>(arms["tag-cap/capped"] + arms["tag-cap/open"]));
  const ExperimentReport report = ComputeReport(*config.Find("bpr-seed"), log->exposures, outcomes);
  ASSERT_EQ(report.arms.size(), 2u);
  EXPECT_EQ(report.arms[0].users, static_cast<uint64_t>(arms["bpr-seed/control"]));
  EXPECT_EQ(report.arms[1].users, static_cast<uint64_t>(arms["bpr-seed/treatment"]));
  EXPECT_EQ(report.events_counted, users);
  for (const ArmStats& a : report.arms) EXPECT_DOUBLE_EQ(a.ctr, 1.0) << a.name;
  EXPECT_NEAR(report.arms[0].watch_s_per_user, 23, 0.5);
  EXPECT_NEAR(report.arms[1].watch_s_per_user, 43, 0.5);
  EXPECT_LT(report.arms[1].vs_control.p, 1e-6);
  EXPECT_FALSE(report.srm);
}

TEST(RecsServingExperiments, ABadFileIsAnErrorAChangedOneIsReloadedAndABadChangeKeepsTheOneInForce) {
  auto w = Make(0.8);
  auto open = [&](const std::string& text) {
    return RecsService::Open(FileSystem::Default(), WithExperiments(*w, text), w->locked.get(), nullptr, kNow);
  };
  std::string text = kExperiments;
  auto unknown = open(text + "params.mmr = 0.5\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("params.mmr = 0.5: not a serving parameter"), std::string::npos)
      << unknown.status().message();
  auto out_of_range = open(text + "params.mmr_lambda = 1.5\n");
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("must be a number in [0, 1]"), std::string::npos);
  // A quota past the service's candidates per request (200 here): the arm cannot make requests costlier.
  auto too_many = open(text + "params.ann = 201\n");
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("params.ann = 201: must be an integer in 0..200"), std::string::npos)
      << too_many.status().message();
  ASSERT_TRUE(open(text + "params.ann = 200\n").ok());
  std::string missing = text;
  missing.replace(missing.find("stories@2"), 9, "stories@9");
  auto no_version = open(missing);
  ASSERT_FALSE(no_version.ok());
  EXPECT_NE(no_version.status().message().find("arm treatment: model stories@9"), std::string::npos)
      << no_version.status().message();

  auto service = open(text);
  ASSERT_TRUE(service.ok()) << service.status().message();
  const uint64_t user = Ext(w->b.data.users, 0);
  EXPECT_EQ((*service)->Recommend(user, kAllRegions, 5, kNow)->arms[0].experiment, "bpr-seed");
  // Renamed: reloaded by the next refresh.
  std::string renamed = text;
  for (size_t at; (at = renamed.find("bpr-seed")) != std::string::npos;) renamed.replace(at, 8, "seed-test-2");
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), w->dir.Path("experiments.toml"), renamed).ok());
  auto swapped = (*service)->Refresh(kNow);
  ASSERT_TRUE(swapped.ok()) << swapped.status().message();
  EXPECT_TRUE(*swapped);
  EXPECT_EQ((*service)->Recommend(user, kAllRegions, 5, kNow)->arms[0].experiment, "seed-test-2");
  // A bad change: an error, and the experiments in force stay.
  ASSERT_TRUE(
      WriteFileAtomically(FileSystem::Default(), w->dir.Path("experiments.toml"), renamed + "[[arm]]\nbogus = 1\n")
          .ok());
  EXPECT_TRUE((*service)->Refresh(kNow).ok());  // reported, not an error: the model's refresh goes on
  EXPECT_NE((*service)->experiments_error(), "");
  EXPECT_EQ((*service)->Recommend(user, kAllRegions, 5, kNow)->arms[0].experiment, "seed-test-2");
}

TEST(RecsServingExperiments, AnAnswerWhoseExposureCannotBeLoggedFails) {
  auto w = Make(0.8);
  RecsServiceOptions o = WithExperiments(*w, kExperiments);
  // The exposures "directory" is a file: no log can be opened.
  o.exposures_dir = w->dir.Path("not-a-dir");
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), o.exposures_dir, "x").ok());
  auto service = RecsService::Open(FileSystem::Default(), o, w->locked.get(), nullptr, kNow);
  ASSERT_TRUE(service.ok()) << service.status().message();
  auto r = (*service)->Recommend(Ext(w->b.data.users, 0), kAllRegions, 5, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // Without experiments nothing is logged, and nothing fails.
  o.experiments_path.clear();
  auto plain = RecsService::Open(FileSystem::Default(), o, w->locked.get(), nullptr, kNow);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->Recommend(Ext(w->b.data.users, 0), kAllRegions, 5, kNow).ok());
}

TEST(RecsServingRegions, ColdStartUsersGetTheirRegionsTrendingItems) {
  auto w = Make(0.8);
  // Live views: in the EU, items 0..9 (item i viewed 30 - i times); in the US, items 10..19 (likewise).
  RegionalTrending regional(kDayMs);
  std::vector<uint64_t> eu, us;
  for (uint32_t i = 0; i < 20; ++i) {
    std::vector<FeatureEvent> events;
    const uint64_t item = Ext(w->b.data.items, i);
    (i < 10 ? eu : us).push_back(item);
    for (uint32_t n = 0; n < 30 - i % 10; ++n)
      events.push_back({.viewer = 7'000'000 + n, .item = item, .time_ms = kNow - kHourMs + n});
    regional.Add(static_cast<uint8_t>(i < 10 ? Region::kEu : Region::kUs), events);
  }
  RecsServiceOptions o = w->Options();
  o.regional = &regional;
  auto service = RecsService::Open(FileSystem::Default(), o, w->locked.get(), nullptr, kNow);
  ASSERT_TRUE(service.ok()) << service.status().message();
  auto top = [&](uint64_t user, Region region) {
    std::vector<uint64_t> items;
    auto r = (*service)->Recommend(user, static_cast<uint8_t>(region), 10, kNow);
    if (!r.ok()) {
      ADD_FAILURE() << r.status().message();
      return items;
    }
    EXPECT_TRUE(r->cold_start);
    for (const Recommendation& i : r->items) items.push_back(i.item);
    return items;
  };
  // Two newcomers without history: each gets their region's trending items, most viewed first.
  EXPECT_EQ(top(9'000'001, Region::kEu), eu);
  EXPECT_EQ(top(9'000'002, Region::kUs), us);
  // A region without live views: the lists of all regions (the store's), neither region's.
  const std::vector<uint64_t> apac = top(9'000'003, Region::kApac);
  EXPECT_EQ(apac.size(), 10u);
  EXPECT_NE(apac, eu);
  EXPECT_NE(apac, us);
  // A user with history gets the region's trending items among the candidates too (k = the candidates' total:
  // every candidate answered), the EU's, not the US's.
  auto known = (*service)->Recommend(Ext(w->b.data.users, 0), static_cast<uint8_t>(Region::kEu), 200, kNow);
  ASSERT_TRUE(known.ok()) << known.status().message();
  EXPECT_FALSE(known->cold_start);
  std::set<uint64_t> trending;
  for (const Recommendation& i : known->items)
    if (i.sources & kSourceTrending) trending.insert(i.item);
  std::set<uint64_t> seen;
  for (uint32_t i : w->train_items[0]) seen.insert(Ext(w->b.data.items, i));
  std::set<uint64_t> expected;
  for (uint64_t item : eu)
    if (!seen.count(item)) expected.insert(item);
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(trending, expected);
  // Control: without the regional tracker both newcomers get the same (all-region) answer.
  auto flat = RecsService::Open(FileSystem::Default(), w->Options(), w->locked.get(), nullptr, kNow);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(Items((*flat)->Recommend(9'000'001, static_cast<uint8_t>(Region::kEu), 10, kNow).value()),
            Items((*flat)->Recommend(9'000'002, static_cast<uint8_t>(Region::kUs), 10, kNow).value()));
}

TEST(RecsServingPublished, NewStoriesAreEmbeddedByTheTowerAndAddedToTheIndexWithoutANewVersion) {
  auto w = Make(0.8);
  // A two-tower version (format 2: its item tower embeds items from their features) made current.
  const Dataset& d = w->b.data;
  TwoTowerConfig tc = SmallTwoTowerConfig();
  tc.training.max_epochs = 3;
  const TwoTowerModel tt =
      TwoTowerModel::Train(d.num_users(), d.num_items(), w->b.split.train, TwoTowerFeatures(d), tc);
  ModelManifest m;
  m.name = "stories";
  m.model = "two-tower";
  m.users = d.num_users();
  m.items = d.num_items();
  m.dim = tc.dim;
  auto saved = w->registry.Save(&m, ExportTwoTower(d, tt));
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  ASSERT_TRUE(w->registry.Promote("stories", *saved).ok());
  // 30 stories published after training, ten of each of three genres, created a year ago (not fresh).
  constexpr uint64_t kFirstNew = 10'000'000;
  std::vector<PublishedItem> published;
  for (uint32_t i = 0; i < 30; ++i) {
    PublishedItem p;
    p.id = kFirstNew + i;
    p.info = {.created_at_ms = kNow - 365 * kDayMs, .tags = {i % 3}};
    p.description.tags = {d.tag_names.at(i % 3)};
    published.push_back(p);
  }
  std::atomic<bool> publish{false}, broken{false};
  RecsServiceOptions o = w->Options();
  o.published_items = [&]() -> Result<std::vector<PublishedItem>> {
    if (broken) return Status::Unavailable("catalogue down");
    if (!publish) return std::vector<PublishedItem>{};
    std::vector<PublishedItem> listed = published;
    listed.push_back(published[0]);  // listed twice: added once
    return listed;
  };
  auto service = RecsService::Open(FileSystem::Default(), o, w->locked.get(), nullptr, kNow);
  ASSERT_TRUE(service.ok()) << service.status().message();
  auto loaded = w->registry.Load({"stories", *saved});
  ASSERT_TRUE(loaded.ok());
  const StoredItemTower tower = StoredItemTower::FromLoaded(*loaded).value();

  // Every candidate is in the answer (k >= total): which new stories are candidates, from which source, scored how.
  auto ask = [&](size_t* ann, size_t* all) {
    for (uint32_t u = 0; u < 80; u += 2) {
      const uint64_t user = Ext(d.users, u);
      auto r = (*service)->Recommend(user, kAllRegions, 200, kNow);
      ASSERT_TRUE(r.ok()) << r.status().message();
      ASSERT_EQ(r->model, "stories@" + std::to_string(*saved));
      for (const Recommendation& item : r->items) {
        if (item.item < kFirstNew) continue;
        ++*all;
        *ann += (item.sources & kSourceAnn) != 0;
        // The tower's embedding of its features, scored as the version's own items (no rules: unchanged).
        const auto& p = published.at(item.item - kFirstNew);
        const double z =
            StoredItemTower::Score(tower.UserVector(std::to_string(user)).value(), tower.EmbedItem(p.description));
        EXPECT_NEAR(item.score, 1 / (1 + std::exp(-z)), 1e-6) << item.item;
      }
    }
  };
  size_t ann = 0, all = 0;
  ask(&ann, &all);
  EXPECT_EQ(all, 0u);  // not published yet: never a candidate
  publish = true;
  auto swapped = (*service)->Refresh(kNow, true);
  ASSERT_TRUE(swapped.ok()) << swapped.status().message();
  EXPECT_TRUE(*swapped);
  EXPECT_EQ((*service)->Served(), "stories@" + std::to_string(*saved));  // the same version, no rebuild
  ask(&ann, &all);
  std::cout << "published stories among the candidates of 40 users: " << all << ", " << ann << " from the index\n";
  EXPECT_GT(ann, 0u);  // found by the ANN query: in the index
  // Published again at the next refresh: added once, answers unchanged.
  size_t ann2 = 0, all2 = 0;
  ASSERT_TRUE((*service)->Refresh(kNow, true).ok());
  ask(&ann2, &all2);
  EXPECT_EQ(all2, all);
  EXPECT_EQ(ann2, ann);
  // The catalogue failing: the pool is rebuilt with the stories added so far, and the refresh does not fail.
  broken = true;
  auto kept = (*service)->Refresh(kNow, true);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  size_t ann3 = 0, all3 = 0;
  ask(&ann3, &all3);
  EXPECT_EQ(all3, all);
  EXPECT_EQ(ann3, ann);
}

}  // namespace
}  // namespace watershed::recs
