// `watershed keys` as an operator runs it: rotation, status, retirement of
// a key no checkpoint or cold store needs any more.

#include <gtest/gtest.h>

#include "app/commands.h"
#include "core/testing/temp_dir.h"
#include "keys/key_ring.h"
#include "log/embedded_log.h"
#include "stream/checkpoint.h"
#include "stream/cold_store.h"

namespace watershed::app {
namespace {

using ::watershed::testing::TempDir;

struct Outcome {
  int rc;
  std::string out, err;
};

Outcome Keys(std::vector<std::string> args, const std::string& data_dir) {
  args.push_back("--data-dir");
  args.push_back(data_dir);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = KeysCommand(args);
  return {rc, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
}

// `keys create --region eu`; the new key's id ("" when it failed).
std::string CreateKey(const std::string& data_dir) {
  Outcome created = Keys({"create", "--region", "eu"}, data_dir);
  EXPECT_EQ(created.rc, 0) << created.err;
  return created.rc == 0 ? created.out.substr(created.out.find("key ") + 4, 30) : "";
}

// What a processor does at a checkpoint: commit the cold store, save.
void Checkpoint(const std::string& data_dir, keys::KeyRing* ring, stream::ColdStore& cold, uint64_t id) {
  stream::CheckpointStore store(FileSystem::Default(), data_dir + "/checkpoints", ring);
  stream::Checkpoint c;
  c.id = id;
  c.state = "state";
  auto ref = cold.Commit();
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  c.cold = *ref;
  ASSERT_TRUE(store.Save(Region::kEu, 0, c).ok());
  cold.Saved();
}

TEST(KeysCommandTest, ARotatedKeyIsRetiredOnlyOnceNothingNeedsIt) {
  TempDir dir("keys_cmd");
  const std::string data = dir.path();
  const std::string old_id = CreateKey(data);
  ASSERT_FALSE(old_id.empty());

  auto ring = keys::KeyRing::Open(data + "/keys", "", {"eu"});
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  ASSERT_TRUE(FileSystem::Default()->CreateDirs(data + "/checkpoints/eu").ok());
  auto cold = stream::ColdStore::Open(FileSystem::Default(), data + "/checkpoints/eu", 0, 1, {}, HashKey{1, 2},
                                      (*ring)->For("eu"));
  ASSERT_TRUE(cold.ok()) << cold.status().ToString();
  ASSERT_TRUE((*cold)->Put(42, "viewers of story 42").ok());
  Checkpoint(data, ring->get(), **cold, 1);

  Outcome status = Keys({"status", "--region", "eu"}, data);
  ASSERT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find(old_id + " (current)\t2 files"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("cold store of"), std::string::npos) << status.out;

  Outcome rotated = Keys({"rotate", "--region", "eu"}, data);
  ASSERT_EQ(rotated.rc, 0) << rotated.err;
  Outcome refused = Keys({"retire", "--region", "eu", "--key", old_id}, data);
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("still wraps the data keys of 2 files"), std::string::npos) << refused.err;

  // The next checkpoint seals under the new key and re-wraps the cold store's data key.
  Checkpoint(data, ring->get(), **cold, 2);
  status = Keys({"status", "--region", "eu"}, data);
  EXPECT_NE(status.out.find(old_id + "\t0 files"), std::string::npos) << status.out;
  Outcome retired = Keys({"retire", "--region", "eu", "--key", old_id}, data);
  ASSERT_EQ(retired.rc, 0) << retired.err;
  EXPECT_EQ(Keys({"list", "--region", "eu"}, data).out.find(old_id), std::string::npos);
  EXPECT_TRUE(FileSystem::Default()->FileExists(data + "/keys/eu/retired/" + old_id + ".key"));

  // Everything still opens without the retired key.
  stream::CheckpointStore store(FileSystem::Default(), data + "/checkpoints", ring->get());
  auto loaded = store.Load(Region::kEu, 0);
  ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status().ToString();
  auto reopened = stream::ColdStore::Open(FileSystem::Default(), data + "/checkpoints/eu", 0, 2, (*loaded)->cold,
                                          HashKey{1, 2}, (*ring)->For("eu"));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  std::string payload;
  ASSERT_TRUE((*reopened)->Take(42, &payload).ok());
  EXPECT_EQ(payload, "viewers of story 42");

  // A scan that finds no checkpoint proves nothing: a wrong data dir is refused.
  ::watershed::testing::TempDir elsewhere("keys_cmd_other");
  Outcome blind = Keys(
      {"retire", "--region", "eu", "--key", "x", "--keys-dir", data + "/keys", "--checkpoint-dir", elsewhere.path()},
      data);
  EXPECT_EQ(blind.rc, 1);
  EXPECT_NE(blind.err.find("nothing proves the key unused"), std::string::npos) << blind.err;

  // The current key is never retired.
  const std::string current = rotated.out.substr(rotated.out.find("key ") + 4, 30);
  Outcome current_refused = Keys({"retire", "--region", "eu", "--key", current}, data);
  EXPECT_EQ(current_refused.rc, 1);
  EXPECT_NE(current_refused.err.find("current key"), std::string::npos) << current_refused.err;
}

TEST(KeysCommandTest, UsageErrors) {
  TempDir dir("keys_cmd");
  EXPECT_EQ(Keys({"create"}, dir.path()).rc, 2);
  EXPECT_EQ(Keys({"create", "--region", "EU"}, dir.path()).rc, 2);
  EXPECT_EQ(Keys({"explode", "--region", "eu"}, dir.path()).rc, 2);
  Outcome no_key = Keys({"status", "--region", "eu"}, dir.path());
  EXPECT_EQ(no_key.rc, 1);
  EXPECT_NE(no_key.err.find("watershed keys create --region eu"), std::string::npos) << no_key.err;
}

}  // namespace
}  // namespace watershed::app

namespace watershed::app {
namespace {

// Log segments (encryption = on): status lists them, retire refuses a key
// they need, rewrap moves them to the current key without rewriting them.
TEST(KeysCommandTest, LogSegmentsAreListedRewrappedAndKeepTheirKeyUntilRewrapped) {
  TempDir dir("keys_cmd_log");
  const std::string data = dir.path();
  const std::string old_id = CreateKey(data);
  ASSERT_FALSE(old_id.empty());
  auto ring = keys::KeyRing::Open(data + "/keys", "", {"eu"});
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  log::EmbeddedLogOptions options;
  options.dir = data + "/log/eu";
  options.partitions = 2;
  options.keys = (*ring)->For("eu");
  {
    auto log = log::EmbeddedLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
  }
  const std::string segment = data + "/log/eu/p001/00000000000000000000.seg";
  auto before = ReadWholeFile(FileSystem::Default(), segment);
  ASSERT_TRUE(before.ok());

  Outcome rotated = Keys({"rotate", "--region", "eu"}, data);
  ASSERT_EQ(rotated.rc, 0) << rotated.err;
  Outcome status = Keys({"status", "--region", "eu"}, data);
  ASSERT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find("2 sealed log segments"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(old_id + "\t2 files"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("log segment " + segment), std::string::npos) << status.out;

  Outcome refused = Keys({"retire", "--region", "eu", "--key", old_id, "--force"}, data);
  EXPECT_NE(refused.rc, 0);
  EXPECT_NE(refused.err.find("log segment"), std::string::npos) << refused.err;

  Outcome rewrapped = Keys({"rewrap", "--region", "eu"}, data);
  ASSERT_EQ(rewrapped.rc, 0) << rewrapped.err;
  EXPECT_NE(rewrapped.out.find("re-wrapped the data keys of 2 log segments"), std::string::npos) << rewrapped.out;
  auto after = ReadWholeFile(FileSystem::Default(), segment);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before) << "the segment itself is untouched";
  status = Keys({"status", "--region", "eu"}, data);
  EXPECT_NE(status.out.find(old_id + "\t0 files"), std::string::npos) << status.out;

  Outcome retired = Keys({"retire", "--region", "eu", "--key", old_id, "--force"}, data);
  ASSERT_EQ(retired.rc, 0) << retired.err;
  // The log still opens and appends: its data keys now unwrap under the new
  // key.
  auto log = log::EmbeddedLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
}

}  // namespace
}  // namespace watershed::app
