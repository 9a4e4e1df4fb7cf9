// `watershed recs eval --from-lake` end to end: a lake written by the platform's own sink, the command's
// JSON, its time travel and its errors; a model trained from it and evaluated again from the registry.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/commands.h"
#include "core/testing/temp_dir.h"
#include "recs/testing/engagement_lake.h"

namespace watershed::app {
namespace {

using recs::testing::CommitThroughSink;
using recs::testing::ExpectedPositives;
using recs::testing::PlantedEngagements;

class RecsCommandTest : public ::testing::Test {
 protected:
  // Runs `watershed recs eval ARGS`; returns stdout, sets *code.
  std::string Eval(std::vector<std::string> args, int* code) {
    args.insert(args.begin(), "eval");
    return Run(args, code);
  }
  // Runs `watershed recs ARGS`.
  std::string Run(const std::vector<std::string>& args, int* code) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    *code = RecsCommand(args);
    err_ = ::testing::internal::GetCapturedStderr();
    return ::testing::internal::GetCapturedStdout();
  }
  static size_t Positives(const std::vector<Event>& events) {
    size_t n = 0;
    for (const auto& [viewer, stories] : ExpectedPositives(events, 3000)) n += stories.size();
    return n;
  }

  ::watershed::testing::TempDir dir_{"recs_cmd"};
  FileSystem* fs_ = FileSystem::Default();
  std::string err_;
};

TEST_F(RecsCommandTest, EvaluatesTheLakesEventsAtASnapshot) {
  const std::vector<Event> first = PlantedEngagements(11, 1500, 60, 40, 3000);
  const std::vector<Event> second = PlantedEngagements(12, 1500, 60, 40, 3000);
  const std::string root = dir_.Path("lake");
  const int64_t s1 = CommitThroughSink(fs_, root, Region::kEu, first, 0);
  CommitThroughSink(fs_, root, Region::kEu, second, first.size());
  std::vector<Event> all = first;
  all.insert(all.end(), second.begin(), second.end());

  int code = -1;
  const std::vector<std::string> common = {"--from-lake", root,         "--model",           "popularity",
                                           "--json",      "--data-dir", dir_.Path("no-data")};
  std::vector<std::string> args = common;
  std::string out = Eval(args, &code);
  ASSERT_EQ(code, 0) << err_;
  EXPECT_NE(out.find("\"format\": \"lake\", \"region\": \"eu\""), std::string::npos) << out;
  // Every positive is in the split: train + test = the planted positives.
  auto number = [&](const std::string& json, const std::string& key) {
    const size_t at = json.find("\"" + key + "\": ");
    EXPECT_NE(at, std::string::npos) << key << " in " << json;
    return std::stoull(json.substr(at + key.size() + 4));
  };
  EXPECT_EQ(number(out, "train") + number(out, "test"), Positives(all));

  args.insert(args.end(), {"--region", "eu", "--snapshot", std::to_string(s1)});
  out = Eval(args, &code);
  ASSERT_EQ(code, 0) << err_;
  EXPECT_EQ(number(out, "snapshot_id"), static_cast<uint64_t>(s1));
  EXPECT_EQ(number(out, "train") + number(out, "test"), Positives(first));

  // Errors: an unknown snapshot (exit 1, the message names it), an unknown region and a flag of files (exit 2).
  args = common;
  args.insert(args.end(), {"--snapshot", "12345"});
  Eval(args, &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(err_.find("no snapshot 12345"), std::string::npos) << err_;
  args = common;
  args.insert(args.end(), {"--region", "mars"});
  Eval(args, &code);
  EXPECT_EQ(code, 2);
  args = common;
  args.insert(args.end(), {"--format", "csv"});
  Eval(args, &code);
  EXPECT_EQ(code, 2);
  Eval({"--interactions", "x", "--format", "csv", "--snapshot", "1"}, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(err_.find("--snapshot applies to --from-lake"), std::string::npos) << err_;
}

TEST_F(RecsCommandTest, ABadItemsFileNamesItsLineAndNothingIsEvaluated) {
  const std::string root = dir_.Path("lake");
  CommitThroughSink(fs_, root, Region::kEu, PlantedEngagements(13, 300, 20, 10, 3000), 0);
  const std::string items = dir_.Path("items.csv");
  ASSERT_TRUE(WriteFileAtomically(fs_, items, "story_id,author_id,language\n1,5,en\n2,5,en\n3,-4,en\n").ok());
  int code = -1;
  const std::string out = Eval({"--from-lake", root, "--items", items, "--model", "popularity"}, &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out, "");
  EXPECT_NE(err_.find(items + ":4: "), std::string::npos) << err_;
  // The same file fixed: the stories are the catalogue of candidates.
  ASSERT_TRUE(WriteFileAtomically(fs_, items, "story_id,author_id,language\n1,5,en\n2,5,en\n3,4,en\n999,4,en\n").ok());
  const std::string fixed = Eval({"--from-lake", root, "--items", items, "--model", "popularity", "--json"}, &code);
  EXPECT_EQ(code, 0) << err_;
  EXPECT_NE(fixed.find("\"items\": 11,"), std::string::npos) << fixed;  // stories 1..10 engaged with, and 999
}

// A model trained from the lake at a snapshot records it; `eval --registry` reads that snapshot again (not the
// current one) and gets the training run's metrics.
TEST_F(RecsCommandTest, AModelTrainedFromTheLakeIsEvaluatedAgainAtItsSnapshot) {
  const std::string root = dir_.Path("lake");
  const std::vector<Event> first = PlantedEngagements(21, 1500, 60, 40, 3000);
  const int64_t s1 = CommitThroughSink(fs_, root, Region::kEu, first, 0);
  CommitThroughSink(fs_, root, Region::kEu, PlantedEngagements(22, 1500, 60, 40, 3000), first.size());
  const std::string data = dir_.Path("data");
  int code = -1;
  const std::string trained = Run({"train", "--model", "bpr", "--epochs", "2", "--from-lake", root, "--snapshot",
                                   std::to_string(s1), "--data-dir", data, "--name", "lake", "--json"},
                                  &code);
  ASSERT_EQ(code, 0) << err_;
  const std::string manifest = ReadWholeFile(fs_, data + "/models/lake/1/manifest.json").value();
  EXPECT_NE(manifest.find("\"snapshot_id\": \"" + std::to_string(s1) + "\""), std::string::npos) << manifest;
  const std::string again = Eval({"--registry", "lake", "--data-dir", data, "--json"}, &code);
  ASSERT_EQ(code, 0) << err_;
  EXPECT_NE(again.find("\"snapshot_id\": " + std::to_string(s1)), std::string::npos) << again;
  auto metrics = [](const std::string& json) { return json.substr(json.find("\"metrics\"")); };
  EXPECT_EQ(metrics(again), metrics(trained));
}

}  // namespace
}  // namespace watershed::app
