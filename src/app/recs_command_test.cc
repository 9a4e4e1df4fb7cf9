// `watershed recs eval --from-lake` end to end: a lake written by the platform's own sink, the command's
// JSON, its time travel and its errors; a model trained from it and evaluated again from the registry.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/commands.h"
#include "core/testing/temp_dir.h"
#include "recs/experiments.h"
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

// `recs experiment report --from-lake`: the outcomes of an experiment are the lake's view events of the exposed
// users on the stories they were shown, within the window; at an older snapshot, only that snapshot's events.
TEST_F(RecsCommandTest, ExperimentReportReadsTheOutcomesFromTheLake) {
  const std::string root = dir_.Path("lake");
  const std::vector<Event> first = PlantedEngagements(31, 2000, 40, 30, 3000);
  const int64_t s1 = CommitThroughSink(fs_, root, Region::kEu, first, 0);
  const std::vector<Event> second = PlantedEngagements(32, 2000, 40, 30, 3000);
  CommitThroughSink(fs_, root, Region::kEu, second, first.size());
  const std::string data = dir_.Path("data");
  ASSERT_TRUE(CreateDirsDurably(fs_, data + "/recs").ok());
  const std::string config =
      "[[layer]]\nname = \"l\"\n[[experiment]]\nname = \"e\"\nlayer = \"l\"\ncontrol = \"c\"\nwindow_hours = 2\n"
      "[[arm]]\nexperiment = \"e\"\nname = \"c\"\n[[arm]]\nexperiment = \"e\"\nname = \"t\"\n";
  ASSERT_TRUE(WriteFileAtomically(fs_, data + "/recs/experiments.toml", config).ok());
  auto parsed = recs::ParseExperimentConfig(config, "x");
  ASSERT_TRUE(parsed.ok());
  // Every viewer saw stories 1-10 one hour into the events' six hours.
  const int64_t shown = recs::testing::kFirstEventMs + 3'600'000;
  {
    auto log = recs::ExposureWriter::Open(fs_, data + "/recs/exposures", "e");
    ASSERT_TRUE(log.ok()) << log.status().message();
    for (uint64_t viewer = 1; viewer <= 40; ++viewer)
      ASSERT_TRUE((*log)
                      ->Append({"req-" + std::to_string(viewer),
                                viewer,
                                "e",
                                recs::ChooseArm(*parsed->Find("e"), viewer).name,
                                shown,
                                {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}})
                      .ok());
  }
  // The views that count, computed from the planted events.
  auto counted = [&](const std::vector<std::vector<Event>>& batches) {
    size_t n = 0;
    for (const auto& batch : batches)
      for (const Event& e : batch)
        n += e.type == EventType::kView && e.story_id.value <= 10 && e.event_time.value >= shown &&
             e.event_time.value <= shown + 2 * 3'600'000;
    return n;
  };
  ASSERT_GT(counted({first}), 0u);
  ASSERT_LT(counted({first}), counted({first, second}));
  int code = -1;
  std::string out = Run({"experiment", "report", "e", "--from-lake", root, "--data-dir", data, "--json"}, &code);
  ASSERT_EQ(code, 0) << err_;
  EXPECT_NE(out.find("\"events\": " + std::to_string(first.size() + second.size()) + ","), std::string::npos) << out;
  EXPECT_NE(out.find("\"events_counted\": " + std::to_string(counted({first, second})) + ","), std::string::npos)
      << out;
  out = Run({"experiment", "report", "e", "--from-lake", root, "--snapshot", std::to_string(s1), "--data-dir", data,
             "--json"},
            &code);
  ASSERT_EQ(code, 0) << err_;
  EXPECT_NE(out.find("\"events_counted\": " + std::to_string(counted({first})) + ","), std::string::npos) << out;
  EXPECT_EQ(Run({"experiment", "report", "e", "--from-lake", root, "--region", "mars", "--data-dir", data}, &code), "");
  EXPECT_EQ(code, 2);
  EXPECT_NE(err_.find("--region: unknown region 'mars'"), std::string::npos) << err_;
}

}  // namespace
}  // namespace watershed::app
