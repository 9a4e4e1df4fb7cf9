// Serving when its files fail (recs/serving.h, serving_arms.h): an experiments file that is bad, removed or names a
// version not saved yet never stops the model's refresh, and a change is taken once it can be; an exposure write
// that fails half-way leaves a readable log, and a request in two layers logs both exposures or neither; the
// exposure fsync holds no lock that requests wait on.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "recs/serving.h"
#include "recs/testing/serving_world.h"

namespace watershed::recs {
namespace {

using testing::Ext;
using testing::kExperiments;
using testing::kNow;
using testing::Make;
using testing::WithExperiments;
using testing::World;

// The real file system, with faults on the files whose path contains `target`: a torn append (half the bytes
// written, then ENOSPC) while `tear`, and an fdatasync that waits while `hold_sync`.
class FlakyFileSystem : public ForwardingFileSystem {
 public:
  explicit FlakyFileSystem(FileSystem* base) : ForwardingFileSystem(base) {}
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    ASSIGN_OR_RETURN(auto file, base()->NewAppendableFile(path));
    return std::unique_ptr<WritableFile>(new File(this, path, std::move(file)));
  }
  void Set(std::string target_path, bool tear_writes, bool hold_syncs) {
    std::lock_guard lock(mu);
    target = std::move(target_path);
    tear = tear_writes;
    hold_sync = hold_syncs;
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::string target;
  bool tear = false;
  bool hold_sync = false, in_sync = false;

 private:
  class File : public WritableFile {
   public:
    File(FlakyFileSystem* fs, std::string path, std::unique_ptr<WritableFile> base)
        : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
    Status Append(std::string_view data) override {
      bool tear;
      {
        std::lock_guard lock(fs_->mu);
        tear = Targeted() && fs_->tear;
      }
      if (!tear) return base_->Append(data);
      RETURN_IF_ERROR(base_->Append(data.substr(0, data.size() / 2)));
      return Status::IoError("write " + path_ + ": No space left on device (injected)");
    }
    Status Sync() override {
      {
        std::unique_lock lock(fs_->mu);
        if (Targeted()) {
          fs_->in_sync = true;
          fs_->cv.notify_all();
          fs_->cv.wait(lock, [&] { return !fs_->hold_sync; });
          fs_->in_sync = false;
        }
      }
      return base_->Sync();
    }
    Status Close() override { return base_->Close(); }
    uint64_t Size() const override { return base_->Size(); }

   private:
    bool Targeted() const { return !fs_->target.empty() && path_.find(fs_->target) != std::string::npos; }
    FlakyFileSystem* fs_;
    std::string path_;
    std::unique_ptr<WritableFile> base_;
  };
};

// A service over kExperiments (through `fs`, the real one when null) and the arms it gives a user.
struct Served {
  explicit Served(World& w, FileSystem* fs = nullptr) : options(WithExperiments(w, kExperiments)) {
    auto s = RecsService::Open(fs ? fs : FileSystem::Default(), options, w.locked.get(), nullptr, kNow);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (s.ok()) service = std::move(*s);
  }
  std::vector<ServedArm> Arms(uint64_t user) const {
    auto r = service->Recommend(user, kAllRegions, 5, kNow);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->arms : std::vector<ServedArm>{};
  }
  std::string FirstExperiment(uint64_t user) const {
    const auto arms = Arms(user);
    return arms.empty() ? "" : arms[0].experiment;
  }
  // Request ids of the experiment's log; fails the test when the log does not read back whole.
  std::vector<std::string> Logged(const std::string& experiment) const {
    std::vector<std::string> ids;
    auto log = ReadExposures(FileSystem::Default(), options.exposures_dir, experiment);
    EXPECT_TRUE(log.ok()) << log.status().message();
    if (!log.ok()) return ids;
    EXPECT_EQ(log->torn_bytes, 0u);
    for (const Exposure& e : log->exposures) ids.push_back(e.request_id);
    return ids;
  }
  RecsServiceOptions options;
  std::unique_ptr<RecsService> service;
};

TEST(RecsServingRefresh, ABadOrRemovedExperimentsFileNeverStopsPromotionsAndRemovedEndsTheExperiments) {
  auto w = Make(0.8);
  Served s(*w);
  ASSERT_NE(s.service, nullptr);
  const uint64_t user = Ext(w->b.data.users, 0);
  ASSERT_EQ(s.FirstExperiment(user), "bpr-seed");

  // A bad file: reported, the experiments in force stay, and a promotion is still served.
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), s.options.experiments_path, "[[arm]]\nbogus = 1\n").ok());
  ASSERT_TRUE(w->registry.Promote("stories", 2).ok());
  auto refreshed = s.service->Refresh(kNow);
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().message();
  EXPECT_EQ(s.service->Served(), "stories@2");
  EXPECT_NE(s.service->experiments_error(), "");
  EXPECT_EQ(s.FirstExperiment(user), "bpr-seed");

  // Removed: no experiments (nothing assigned, nothing logged); a promotion is served meanwhile.
  ASSERT_TRUE(FileSystem::Default()->RemoveFile(s.options.experiments_path).ok());
  refreshed = s.service->Refresh(kNow);
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().message();
  EXPECT_EQ(s.service->experiments_error(), "");
  EXPECT_TRUE(s.Arms(user).empty());
  ASSERT_TRUE(w->registry.Promote("stories", 1).ok());
  ASSERT_TRUE(s.service->Refresh(kNow).ok());
  EXPECT_EQ(s.service->Served(), "stories@1");
  EXPECT_TRUE(s.Arms(user).empty());

  // Written again: in force at the next refresh.
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), s.options.experiments_path, kExperiments).ok());
  ASSERT_TRUE(s.service->Refresh(kNow).ok());
  EXPECT_EQ(s.FirstExperiment(user), "bpr-seed");
}

TEST(RecsServingRefresh, AChangeNamingAVersionNotSavedYetIsTakenOnceItIsWithoutTouchingTheFile) {
  auto w = Make(0.8);
  Served s(*w);
  ASSERT_NE(s.service, nullptr);
  const uint64_t user = Ext(w->b.data.users, 0);

  // Renamed, its treatment on stories@3, which the registry does not hold yet.
  std::string changed = kExperiments;
  for (size_t at; (at = changed.find("bpr-seed")) != std::string::npos;) changed.replace(at, 8, "seed-3");
  changed.replace(changed.find("stories@2"), 9, "stories@3");
  ASSERT_TRUE(WriteFileAtomically(FileSystem::Default(), s.options.experiments_path, changed).ok());
  auto refreshed = s.service->Refresh(kNow);
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().message();
  EXPECT_NE(s.service->experiments_error().find("stories@3"), std::string::npos) << s.service->experiments_error();
  EXPECT_EQ(s.FirstExperiment(user), "bpr-seed");

  // stories@3 saved; the file untouched: the next refresh takes the change.
  auto saved = w->SaveBpr(3, 2);
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  ASSERT_EQ(*saved, 3u);
  refreshed = s.service->Refresh(kNow);
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().message();
  EXPECT_TRUE(*refreshed);
  EXPECT_EQ(s.service->experiments_error(), "");
  EXPECT_EQ(s.FirstExperiment(user), "seed-3");
}

TEST(RecsServingExposures, AWriteThatFailsHalfWayLeavesTheLogReadable) {
  auto w = Make(0.8);
  FlakyFileSystem fs(FileSystem::Default());
  Served s(*w, &fs);
  ASSERT_NE(s.service, nullptr);
  auto first = s.service->Recommend(Ext(w->b.data.users, 0), kAllRegions, 5, kNow);
  ASSERT_TRUE(first.ok()) << first.status().message();
  fs.Set("bpr-seed.log", true, false);
  auto torn = s.service->Recommend(Ext(w->b.data.users, 1), kAllRegions, 5, kNow);
  ASSERT_FALSE(torn.ok());
  EXPECT_EQ(torn.status().code(), StatusCode::kUnavailable);
  fs.Set("", false, false);
  auto next = s.service->Recommend(Ext(w->b.data.users, 2), kAllRegions, 5, kNow);
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(s.Logged("bpr-seed"), (std::vector<std::string>{first->request_id, next->request_id}));
}

TEST(RecsServingExposures, ARequestInTwoLayersLogsBothExposuresOrNeither) {
  auto w = Make(0.8);
  FlakyFileSystem fs(FileSystem::Default());
  Served s(*w, &fs);
  ASSERT_NE(s.service, nullptr);
  const ExperimentConfig config = ParseExperimentConfig(kExperiments, "x").value();
  uint64_t user = 0;  // one in both layers' experiments
  for (uint32_t u = 0; user == 0 && u < w->b.data.num_users(); ++u)
    if (Assign(config, Ext(w->b.data.users, u)).size() == 2) user = Ext(w->b.data.users, u);
  ASSERT_NE(user, 0u);
  // The second exposure (tag-cap's, after bpr-seed's) fails.
  fs.Set("tag-cap.log", true, false);
  auto failed = s.service->Recommend(user, kAllRegions, 5, kNow);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.Logged("bpr-seed").size(), 0u);  // not counted as served
  EXPECT_EQ(s.Logged("tag-cap").size(), 0u);
  fs.Set("", false, false);
  auto served = s.service->Recommend(user, kAllRegions, 5, kNow);
  ASSERT_TRUE(served.ok()) << served.status().message();
  EXPECT_EQ(s.Logged("bpr-seed"), std::vector<std::string>{served->request_id});
  EXPECT_EQ(s.Logged("tag-cap"), std::vector<std::string>{served->request_id});
  EXPECT_EQ(s.service->exposures_logged(), 2u);
}

TEST(RecsServingExposures, RequestsAreNotHeldByTheExposureFsync) {
  auto w = Make(0.8);
  FlakyFileSystem fs(FileSystem::Default());
  Served s(*w, &fs);
  ASSERT_NE(s.service, nullptr);
  ASSERT_TRUE(s.service->Recommend(Ext(w->b.data.users, 0), kAllRegions, 5, kNow).ok());
  fs.Set("bpr-seed.log", false, true);
  std::thread syncer([&] { EXPECT_TRUE(s.service->SyncExposures().ok()); });
  {
    std::unique_lock lock(fs.mu);
    fs.cv.wait(lock, [&] { return fs.in_sync; });
  }
  // A watchdog releases the fdatasync if the request below waits on it (a lock held across the sync): the test
  // then fails on the order seen, not on a time.
  std::atomic<bool> answered{false}, released_by_watchdog{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 600 && !answered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard lock(fs.mu);
    if (!answered && fs.hold_sync) {
      released_by_watchdog = true;
      fs.hold_sync = false;
      fs.cv.notify_all();
    }
  });
  auto r = s.service->Recommend(Ext(w->b.data.users, 1), kAllRegions, 5, kNow);
  answered = true;
  EXPECT_TRUE(r.ok()) << r.status().message();
  {
    std::lock_guard lock(fs.mu);
    EXPECT_TRUE(fs.in_sync);  // answered while the fdatasync was still held
  }
  fs.Set("", false, false);
  syncer.join();
  watchdog.join();
  EXPECT_FALSE(released_by_watchdog);
  EXPECT_EQ(s.Logged("bpr-seed").size(), 2u);
}

}  // namespace
}  // namespace watershed::recs
