#include "log/kafka_log.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/event_codec.h"
#include "log/kafka_topic_check.h"
#include "log/testing/kafka_mock.h"
#include "log/testing/log_test_util.h"

namespace watershed::log {
namespace {

using testing::kT0;
using testing::MakeEvent;
using testing::AppendAndWait;
constexpr int16_t kProduceApiKey = 0;  // Kafka protocol ApiKey of ProduceRequest
// Bounds how long a test waits for something that should happen; reaching it
// is a failure, never a measured duration.
constexpr auto kPatience = std::chrono::seconds(30);


using testing::MockCluster;


// Reads `n` records of `partition` from `from` on, waiting for them to arrive.
Status ReadN(Log& log, uint32_t partition, uint64_t from, size_t n, std::vector<LogRecord>* out) {
  ASSIGN_OR_RETURN(auto reader, log.NewReader(partition, LogOffset(from)));
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (out->size() < n) {
    const uint64_t seen = log.DataVersion();
    RETURN_IF_ERROR(reader->Read(100, out));
    if (out->size() >= n) break;
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Internal("read " + std::to_string(out->size()) + " of " + std::to_string(n) + " records");
    log.WaitForNewData(seen, std::chrono::milliseconds(200));
  }
  EXPECT_EQ(reader->position().value, from + out->size());
  return Status::Ok();
}

// Reads every partition to its end offset; the records of each partition.
std::vector<std::vector<LogRecord>> ReadEverything(Log& log) {
  std::vector<std::vector<LogRecord>> all(log.partition_count());
  for (uint32_t p = 0; p < log.partition_count(); ++p) {
    Status s = ReadN(log, p, 0, log.EndOffset(p).value, &all[p]);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return all;
}

// Reads until the reader fails (or kPatience passes: Ok); the error.
Status ReadUntilError(Log& log, LogReader& reader, std::vector<LogRecord>* records) {
  Status s;
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (s.ok() && std::chrono::steady_clock::now() < deadline) {
    const uint64_t seen = log.DataVersion();
    s = reader.Read(10, records);
    if (s.ok()) log.WaitForNewData(seen, std::chrono::milliseconds(200));
  }
  return s;
}

class KafkaLogTest : public ::testing::Test {
 protected:
  static constexpr const char* kTopic = "watershed.eu";

  void SetUp() override {
    ASSERT_NE(mock_.get(), nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), kTopic, 4, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  KafkaLogOptions Options(uint32_t partitions = 4) {
    KafkaLogOptions o;
    o.brokers = mock_.bootstraps();
    o.topic = kTopic;
    o.partitions = partitions;
    o.delivery_timeout_ms = 20'000;
    o.open_timeout_ms = 10'000;
    o.watermark_refresh_ms = 50;
    o.fetch_wait_max_ms = 20;
    o.accept_create_time = true;  // the mock cluster stores CreateTime (see the TimestampType tests)
    o.extra_config = {{"log_level", "2"},
                      {"reconnect.backoff.ms", "10"},
                      {"reconnect.backoff.max.ms", "100"},
                      {"retry.backoff.ms", "10"}};
    return o;
  }

  std::unique_ptr<KafkaLog> OpenLog(const KafkaLogOptions& o) {
    auto log = KafkaLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  MockCluster mock_{3};
};

TEST_F(KafkaLogTest, AppendThenReadBackPerPartitionInOrder) {
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  std::vector<std::vector<Event>> expected(4);
  uint64_t seq = 0;
  for (int batch = 0; batch < 5; ++batch) {
    std::vector<Event> events;
    for (int i = 0; i < 40; ++i) events.push_back(MakeEvent(1 + (seq * 7) % 23, seq)), ++seq;
    for (const Event& e : events) expected[PartitionOf(e.story_id, 4, PartitionScheme::kAligned)].push_back(e);
    ASSERT_TRUE(AppendAndWait(*log, events).ok());
  }
  auto all = ReadEverything(*log);
  for (uint32_t p = 0; p < 4; ++p) {
    ASSERT_EQ(log->EndOffset(p).value, expected[p].size()) << "partition " << p;
    ASSERT_EQ(all[p].size(), expected[p].size());
    for (size_t i = 0; i < all[p].size(); ++i) {
      EXPECT_EQ(all[p][i].offset.value, i);
      EXPECT_EQ(all[p][i].event, expected[p][i]);
      EXPECT_EQ(PartitionOf(all[p][i].event.story_id, 4, PartitionScheme::kAligned), p);
      EXPECT_GT(all[p][i].append_time.value, 0);
      if (i > 0) {
        EXPECT_GE(all[p][i].append_time, all[p][i - 1].append_time);
      }
    }
  }
}

TEST_F(KafkaLogTest, ConcurrentAppendsLandExactlyOnceWithOneCallbackEach) {
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 4, kBatches = 30, kPerBatch = 10;
  std::vector<std::atomic<int>> calls(kThreads * kBatches);
  std::atomic<int> failed{0}, finished{0};
  std::atomic<int> ended_before_ack{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Event> events;
        for (int i = 0; i < kPerBatch; ++i)
          events.push_back(MakeEvent(100 + t * 5 + i % 5, static_cast<uint64_t>((t * kBatches + b) * kPerBatch + i)));
        std::vector<uint32_t> parts;
        for (const Event& e : events) parts.push_back(PartitionOf(e.story_id, 4, PartitionScheme::kAligned));
        log->AppendAsync(std::move(events), [&, t, b, parts](Status s) {
          calls[t * kBatches + b].fetch_add(1);
          if (!s.ok()) failed.fetch_add(1);
          // Delivered means counted in the end offset of each partition written.
          for (uint32_t p : parts)
            if (log->EndOffset(p).value == 0) ended_before_ack.fetch_add(1);
          std::lock_guard lock(mu);
          finished.fetch_add(1);
          cv.notify_all();
        });
      }
    });
  for (auto& th : threads) th.join();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kPatience, [&] { return finished.load() == kThreads * kBatches; }));
  }
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ended_before_ack.load(), 0);
  auto all = ReadEverything(*log);
  log->Close();
  for (auto& c : calls) EXPECT_EQ(c.load(), 1);
  std::map<EventId, int> seen;
  size_t total = 0;
  for (const auto& part : all)
    for (const auto& r : part) ++seen[r.event.event_id], ++total;
  EXPECT_EQ(total, size_t{kThreads * kBatches * kPerBatch});
  EXPECT_EQ(seen.size(), size_t{kThreads * kBatches * kPerBatch});
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id.ToString();
}

TEST_F(KafkaLogTest, BrokersDownFailsTheBatchAndARetrySucceeds) {
  auto o = Options();
  o.delivery_timeout_ms = 1000;
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  std::vector<Event> first, second;
  for (uint64_t i = 0; i < 20; ++i) first.push_back(MakeEvent(1 + i % 7, i));
  for (uint64_t i = 20; i < 40; ++i) second.push_back(MakeEvent(1 + i % 7, i));
  ASSERT_TRUE(AppendAndWait(*log, first).ok());

  for (int b = 1; b <= 3; ++b) ASSERT_EQ(rd_kafka_mock_broker_set_down(mock_.get(), b), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto calls = std::make_shared<std::atomic<int>>(0);
  Status s = AppendAndWait(*log, second, calls);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("TIMED_OUT"), std::string::npos) << s.ToString();

  for (int b = 1; b <= 3; ++b) ASSERT_EQ(rd_kafka_mock_broker_set_up(mock_.get(), b), RD_KAFKA_RESP_ERR_NO_ERROR);
  // The client's retry of the same batch, until the producer reconnects.
  Status retry;
  for (int attempt = 0; attempt < 20; ++attempt)
    if ((retry = AppendAndWait(*log, second)).ok()) break;
  ASSERT_TRUE(retry.ok()) << retry.ToString();
  EXPECT_EQ(calls->load(), 1);

  // Everything acknowledged is readable, and nothing else is there.
  auto all = ReadEverything(*log);
  std::map<EventId, int> seen;
  for (const auto& part : all)
    for (const auto& r : part) ++seen[r.event.event_id];
  for (const auto* batch : {&first, &second})
    for (const Event& e : *batch) EXPECT_GE(seen[e.event_id], 1) << e.event_id.ToString();
  EXPECT_EQ(seen.size(), first.size() + second.size());
}

TEST_F(KafkaLogTest, RetriableProduceErrorsLeaveNoDuplicatesAndNoReordering) {
  auto o = Options();
  // Many small requests, so the injected errors hit many message sets.
  // One in flight per connection: librdkafka 2.0.2's mock broker does not
  // check producer sequence numbers, so with several in flight it accepts a
  // set whose predecessor failed, and the producer then counts the failed one
  // as delivered (a real broker answers OUT_OF_ORDER_SEQUENCE_NUMBER and the
  // producer resends in order). Pipelining is thus not testable here.
  o.linger_ms = 0;
  o.extra_config.push_back({"batch.num.messages", "2"});
  o.extra_config.push_back({"max.in.flight.requests.per.connection", "1"});
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 0)}).ok());  // producer id acquired
  rd_kafka_mock_push_request_errors(
      mock_.get(), kProduceApiKey, 10, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NO_ERROR,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NO_ERROR,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NO_ERROR);
  // Many batches in flight at once, so retries overlap newer requests.
  std::vector<std::vector<Event>> expected(4);
  for (const Event& e : {MakeEvent(1, 0)}) expected[PartitionOf(e.story_id, 4, PartitionScheme::kAligned)].push_back(e);
  std::vector<std::future<Status>> results;
  uint64_t seq = 1;
  for (int b = 0; b < 20; ++b) {
    std::vector<Event> events;
    for (int i = 0; i < 10; ++i) events.push_back(MakeEvent(1 + seq % 11, seq)), ++seq;
    for (const Event& e : events) expected[PartitionOf(e.story_id, 4, PartitionScheme::kAligned)].push_back(e);
    auto promise = std::make_shared<std::promise<Status>>();
    results.push_back(promise->get_future());
    log->AppendAsync(std::move(events), [promise](Status s) { promise->set_value(std::move(s)); });
  }
  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(kPatience), std::future_status::ready);
    Status s = f.get();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  auto all = ReadEverything(*log);
  for (uint32_t p = 0; p < 4; ++p) {
    ASSERT_EQ(all[p].size(), expected[p].size()) << "partition " << p;
    for (size_t i = 0; i < all[p].size(); ++i) EXPECT_EQ(all[p][i].event, expected[p][i]) << p << "/" << i;
  }
}

TEST_F(KafkaLogTest, LeaderChangesMidRunDoNotFailAppends) {
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  std::vector<std::vector<Event>> expected(4);
  uint64_t seq = 0;
  for (int round = 0; round < 6; ++round) {
    if (round % 2 == 1) {
      for (int32_t p = 0; p < 4; ++p) {
        ASSERT_EQ(rd_kafka_mock_partition_set_leader(mock_.get(), kTopic, p, 1 + (p + round) % 3),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
      }
    }
    std::vector<Event> events;
    for (int i = 0; i < 25; ++i) events.push_back(MakeEvent(1 + seq % 13, seq)), ++seq;
    for (const Event& e : events) expected[PartitionOf(e.story_id, 4, PartitionScheme::kAligned)].push_back(e);
    Status s = AppendAndWait(*log, events);
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
  }
  auto all = ReadEverything(*log);
  for (uint32_t p = 0; p < 4; ++p) {
    ASSERT_EQ(all[p].size(), expected[p].size());
    for (size_t i = 0; i < all[p].size(); ++i) {
      EXPECT_EQ(all[p][i].offset.value, i);
      EXPECT_EQ(all[p][i].event, expected[p][i]);
    }
  }
}

TEST_F(KafkaLogTest, ReaderFromTheMiddleAndWaitsWakeOnData) {
  auto o = Options(1);
  o.topic = "watershed.us";
  ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), o.topic.c_str(), 1, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  std::vector<Event> events;
  for (uint64_t i = 0; i < 10; ++i) events.push_back(MakeEvent(5, i));
  ASSERT_TRUE(AppendAndWait(*log, events).ok());
  ASSERT_EQ(log->EndOffset(0).value, 10u);

  std::vector<LogRecord> tail;
  ASSERT_TRUE(ReadN(*log, 0, 4, 6, &tail).ok());
  ASSERT_EQ(tail.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(tail[i].offset.value, 4 + i);
    EXPECT_EQ(tail[i].event, events[4 + i]);
  }
  EXPECT_EQ(log->NewReader(0, LogOffset(11)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->NewReader(1, LogOffset(0)).status().code(), StatusCode::kInvalidArgument);

  // A reader at the end sees nothing, then the next record once it is appended.
  auto reader = log->NewReader(0, LogOffset(10));
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> none;
  ASSERT_TRUE((*reader)->Read(10, &none).ok());
  EXPECT_TRUE(none.empty());

  const uint64_t version = log->DataVersion();
  auto waiter = std::async(std::launch::async, [&] {
    log->WaitForData(0, LogOffset(10), std::chrono::hours(1));
    return log->EndOffset(0).value;
  });
  auto version_waiter = std::async(std::launch::async, [&] {
    log->WaitForNewData(version, std::chrono::hours(1));
    return log->DataVersion();
  });
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(5, 10)}).ok());
  ASSERT_EQ(waiter.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(waiter.get(), 11u);
  ASSERT_EQ(version_waiter.wait_for(kPatience), std::future_status::ready);
  EXPECT_NE(version_waiter.get(), version);

  std::vector<LogRecord> more;
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (more.empty() && std::chrono::steady_clock::now() < deadline) {
    const uint64_t seen = log->DataVersion();
    ASSERT_TRUE((*reader)->Read(10, &more).ok());
    if (more.empty()) log->WaitForNewData(seen, std::chrono::milliseconds(200));
  }
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].offset.value, 10u);
  EXPECT_EQ(more[0].event, MakeEvent(5, 10));
}

TEST_F(KafkaLogTest, CloseWakesWaitersAndRefusesAppends) {
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  auto data_waiter = std::async(std::launch::async, [&] {
    log->WaitForData(0, LogOffset(1'000'000), std::chrono::hours(1));
  });
  auto version_waiter = std::async(std::launch::async, [&] {
    log->WaitForNewData(log->DataVersion() + 1'000'000, std::chrono::hours(1));
  });
  log->Close();
  EXPECT_EQ(data_waiter.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(version_waiter.wait_for(kPatience), std::future_status::ready);
  auto calls = std::make_shared<std::atomic<int>>(0);
  EXPECT_EQ(AppendAndWait(*log, {MakeEvent(1, 1)}, calls).code(), StatusCode::kUnavailable);
  EXPECT_EQ(calls->load(), 1);
}

TEST_F(KafkaLogTest, CloseFailsWhatItCannotDeliver) {
  auto o = Options();
  o.close_timeout_ms = 100;
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 0)}).ok());
  for (int b = 1; b <= 3; ++b) ASSERT_EQ(rd_kafka_mock_broker_set_down(mock_.get(), b), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  std::vector<Event> events;
  for (uint64_t i = 1; i < 20; ++i) events.push_back(MakeEvent(i, i));
  log->AppendAsync(events, [promise, calls](Status s) {
    if (calls->fetch_add(1) == 0) promise->set_value(std::move(s));
  });
  log->Close();
  ASSERT_EQ(future.wait_for(kPatience), std::future_status::ready);
  Status s = future.get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  log.reset();
  EXPECT_EQ(calls->load(), 1);
}

TEST_F(KafkaLogTest, BadRecordIsCorruptionNamingItsPlace) {
  auto o = Options(1);
  o.topic = "watershed.bad";
  ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), o.topic.c_str(), 1, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 0)}).ok());
  {  // A foreign producer writes a value that is no event.
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", o.brokers.c_str(), errstr, sizeof errstr),
              RD_KAFKA_CONF_OK);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    ASSERT_NE(rk, nullptr) << errstr;
    char junk[] = "not an event";
    rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
    ASSERT_NE(topic, nullptr);
    ASSERT_EQ(rd_kafka_produce(topic, 0, RD_KAFKA_MSG_F_COPY, junk, sizeof junk, nullptr, 0, nullptr), 0);
    rd_kafka_topic_destroy(topic);
    EXPECT_EQ(rd_kafka_flush(rk, 10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
  }
  ASSERT_TRUE(log->RefreshEndOffsets(5000).ok());
  ASSERT_EQ(log->EndOffset(0).value, 2u);
  auto reader = log->NewReader(0, LogOffset(0));
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> records;
  Status s = ReadUntilError(*log, **reader, &records);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("watershed.bad [0] offset 1"), std::string::npos) << s.ToString();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ((*reader)->position().value, 1u);
  EXPECT_EQ((*reader)->Read(10, &records).code(), StatusCode::kCorruption);  // sticky: the cursor stays
}

// A topic's records carry region ids (places in region-names): a reader of eu's topic refuses a record whose id is
// another region's here — what a producer listing the names in another order writes.
TEST_F(KafkaLogTest, ARecordOfAnotherRegionIdIsRefusedNamingRegionNames) {
  auto o = Options(1);
  o.topic = "watershed.eu-of-another-order";
  ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), o.topic.c_str(), 1, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  o.region = Region::kEu;
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  Event mine = MakeEvent(1, 0), other = MakeEvent(1, 1);
  mine.region = Region::kEu;
  other.region = Region::kApac;
  ASSERT_TRUE(AppendAndWait(*log, {mine, other}).ok());
  auto reader = log->NewReader(0, LogOffset(0));
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> records;
  Status s = ReadUntilError(*log, **reader, &records);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("watershed.eu-of-another-order [0] offset 1 is of region id 2 (apac here), not eu's id 1"),
            std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("region-names in the same order"), std::string::npos) << s.ToString();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ((*reader)->position().value, 1u);
}

TEST_F(KafkaLogTest, OpenChecksTheTopic) {
  auto o = Options();
  o.open_timeout_ms = 3000;
  o.topic = "watershed.missing";
  auto missing = KafkaLog::Open(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("watershed.missing does not exist"), std::string::npos)
      << missing.status().ToString();

  o = Options(8);  // the topic has 4
  auto mismatch = KafkaLog::Open(o);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatch.status().message().find("has 4 partitions"), std::string::npos)
      << mismatch.status().ToString();

  o = Options();
  o.topic = "watershed.new";
  o.create_topic = true;
  o.open_timeout_ms = 1000;
  // librdkafka 2.0.2's mock cluster has no controller (no CreateTopics): the
  // request fails, and the error says which step did.
  auto created = KafkaLog::Open(o);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("kafka create topic watershed.new"), std::string::npos)
      << created.status().ToString();

  o = Options();
  o.compression = "brotli";
  EXPECT_EQ(KafkaLog::Open(o).status().code(), StatusCode::kInvalidArgument);
}

// --- message.timestamp.type (kafka_topic_check.h) ---------------------------

// The mock cluster stores the producer's CreateTime and cannot be set to
// LogAppendTime, nor answer DescribeConfigs (no controller): Open goes on,
// unchecked, and the reader refuses the first record, for good.
TEST_F(KafkaLogTest, CreateTimeRecordsAreRefusedWithAClearError) {
  auto o = Options(1);
  o.topic = "watershed.createtime";
  o.accept_create_time = false;
  ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), o.topic.c_str(), 1, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto log = OpenLog(o);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(5, 0), MakeEvent(5, 1)}).ok());
  auto reader = log->NewReader(0, LogOffset(0));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<LogRecord> records;
  Status s = ReadUntilError(*log, **reader, &records);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  for (const char* part : {"watershed.createtime [0] offset 0 has a CreateTime timestamp",
                           "message.timestamp.type=LogAppendTime", "--entity-name watershed.createtime"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << " in " << s.ToString();
  EXPECT_TRUE(records.empty());
  EXPECT_EQ((*reader)->position().value, 0u);
  EXPECT_EQ((*reader)->Read(10, &records).code(), StatusCode::kFailedPrecondition);  // sticky
  EXPECT_TRUE(records.empty());
}

TEST(KafkaTopicCheckTest, VerdictsOnSettingAndRecords) {
  EXPECT_TRUE(CheckTimestampTypeValue("watershed.eu", "LogAppendTime").ok());
  Status s = CheckTimestampTypeValue("watershed.eu", "CreateTime");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  for (const char* part : {"kafka topic watershed.eu has message.timestamp.type=CreateTime",
                           "Watershed needs LogAppendTime", "--add-config message.timestamp.type=LogAppendTime"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << " in " << s.ToString();

  EXPECT_TRUE(CheckRecordTimestampType(RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME, "t [3]", 7).ok());
  s = CheckRecordTimestampType(RD_KAFKA_TIMESTAMP_CREATE_TIME, "t [3]", 7);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("kafka t [3] offset 7 has a CreateTime timestamp"), std::string::npos) << s.ToString();
  s = CheckRecordTimestampType(RD_KAFKA_TIMESTAMP_NOT_AVAILABLE, "t [3]", 7);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("has no timestamp"), std::string::npos) << s.ToString();
}

// Against a cluster that names no controller the start check reports why it
// could not ask, instead of waiting for DescribeConfigs to time out.
TEST_F(KafkaLogTest, StartCheckIsUncheckedWithoutAController) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", mock_.bootstraps().c_str(), errstr, sizeof errstr),
            RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  ASSERT_NE(rk, nullptr) << errstr;
  auto check = CheckTopicTimestampType(rk, kTopic, 5000);
  rd_kafka_destroy(rk);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_FALSE(check->checked);
  EXPECT_NE(check->unchecked_reason.find("no controller"), std::string::npos) << check->unchecked_reason;
}

}  // namespace
}  // namespace watershed::log

namespace watershed::log {
namespace {

// Kafka keeps no LOG_META: a topic written with one partition scheme and
// opened with the other is refused at Open (newest record of each partition)
// and by every reader (each record), naming the scheme that fits.
TEST_F(KafkaLogTest, ATopicWrittenWithAnotherPartitionSchemeIsRefused) {
  KafkaLogOptions legacy = Options();
  legacy.partition_scheme = PartitionScheme::kLegacy;
  std::vector<Event> events;
  for (uint64_t s = 0; s < 40; ++s) events.push_back(MakeEvent(1 + s, s));
  auto aligned = OpenLog(Options());  // the topic is empty yet: nothing to check
  ASSERT_NE(aligned, nullptr);
  {
    auto log = OpenLog(legacy);
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(AppendAndWait(*log, events).ok());
    log->Close();
  }
  // A reader of the log opened before stops at the first record of another
  // partition's story, before returning it.
  for (uint32_t p = 0; p < 4; ++p) {
    auto reader = aligned->NewReader(p, LogOffset(0));
    ASSERT_TRUE(reader.ok());
    std::vector<LogRecord> got;
    Status s = ReadUntilError(*aligned, **reader, &got);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
    for (const auto& r : got) EXPECT_EQ(aligned->PartitionFor(r.event.story_id), p);
  }
  aligned->Close();
  auto refused = KafkaLog::Open(Options());  // aligned, the default
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("set log-partition-scheme=legacy"), std::string::npos)
      << refused.status().message();

  // The same topic opened with its own scheme reads back every record.
  auto log = OpenLog(legacy);
  ASSERT_NE(log, nullptr);
  size_t total = 0;
  for (const auto& part : ReadEverything(*log)) total += part.size();
  EXPECT_EQ(total, events.size());
}

TEST_F(KafkaLogTest, AlignedSchemeNeedsAnAligningPartitionCount) {
  ASSERT_EQ(rd_kafka_mock_topic_create(mock_.get(), "watershed.apac", 6, 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  KafkaLogOptions o = Options(6);
  o.topic = "watershed.apac";
  auto r = KafkaLog::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  o.partition_scheme = PartitionScheme::kLegacy;
  EXPECT_NE(OpenLog(o), nullptr);
}

}  // namespace
}  // namespace watershed::log
