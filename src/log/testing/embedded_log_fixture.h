#pragma once
// Tests only: the fixture and helpers of the embedded log's tests.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event_codec.h"
#include "core/status.h"
#include "core/testing/temp_dir.h"
#include "keys/key_provider.h"
#include "log/embedded_log.h"
#include "log/log_format.h"
#include "log/testing/log_test_util.h"

namespace watershed::log::testing {

// A story id that lands in `partition` of `n` under `scheme`.
inline uint64_t StoryIn(uint32_t partition, uint32_t n, uint64_t start = 1,
                        PartitionScheme scheme = PartitionScheme::kAligned) {
  for (uint64_t s = start;; ++s)
    if (PartitionOf(StoryId(s), n, scheme) == partition) return s;
}

// Reads the partition from `from` to its current end, in small batches.
inline Status ReadAll(Log& log, uint32_t partition, uint64_t from, std::vector<LogRecord>* out) {
  ASSIGN_OR_RETURN(auto reader, log.NewReader(partition, LogOffset(from)));
  const uint64_t end = log.EndOffset(partition).value;
  while (reader->position().value < end) {
    size_t before = out->size();
    RETURN_IF_ERROR(reader->Read(7, out));
    if (out->size() == before) return Status::Internal("reader made no progress");
  }
  return Status::Ok();
}

inline std::vector<Event> EventsOf(const std::vector<LogRecord>& records) {
  std::vector<Event> events;
  for (const auto& r : records) events.push_back(r.event);
  return events;
}

class EmbeddedLogTest : public ::testing::Test {
 protected:
  EmbeddedLogOptions Options(uint32_t partitions = 1) {
    EmbeddedLogOptions o;
    o.dir = dir_.Path("eu");
    o.partitions = partitions;
    o.clock = &clock_;
    o.keys = keys_.get();
    return o;
  }
  // encryption = on for the logs Options() describes from now on: a KEK of
  // `region` in this test's keys dir (created if missing) and its provider.
  void EncryptWith(const std::string& region = "eu") {
    keys::LocalKeyStore store(KeysDir(), region);
    if (!store.Current().ok()) {
      ASSERT_TRUE(store.Create(true).ok());
    }
    keys_ = keys::NewLocalKeyProvider(KeysDir(), region);
  }
  void EncryptionOff() { keys_.reset(); }
  std::string KeysDir() const { return dir_.Path("keys"); }
  std::unique_ptr<EmbeddedLog> OpenLog(const EmbeddedLogOptions& o) {
    auto r = EmbeddedLog::Open(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::string PartitionDir(uint32_t p) const {
    char name[16];
    std::snprintf(name, sizeof name, "p%03u", p);
    return JoinPath(dir_.Path("eu"), name);
  }
  // Segment file names of the partition, sorted.
  std::vector<std::string> Segments(uint32_t p) const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(PartitionDir(p))) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string LastSegmentPath(uint32_t p) const { return JoinPath(PartitionDir(p), Segments(p).back()); }
  static uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

  ::watershed::testing::TempDir dir_{"log"};
  ManualClock clock_{kT0};
  std::unique_ptr<keys::KeyProvider> keys_;
};

// Record size of MakeEvent(_, seq) on disk.
inline size_t RecordSize(uint64_t seq) {
  return format::kRecordHeaderSize + format::kPayloadPrefixSize + kEventBinaryFixedSize +
         MakeEvent(1, seq).traceparent.size();
}

}  // namespace watershed::log::testing
