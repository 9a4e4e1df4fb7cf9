// The embedded log with encryption = on: sealed segments (segment_crypto.h).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/endian.h"
#include "log/embedded_log.h"
#include "log/log_format.h"
#include "log/record_codec.h"
#include "log/segment_crypto.h"
#include "log/testing/embedded_log_fixture.h"

namespace watershed::log {
namespace {

using testing::AppendAndWait;
using testing::EmbeddedLogTest;
using testing::MakeEvent;
using testing::ReadAll;

class EncryptedLogTest : public EmbeddedLogTest {
 protected:
  void SetUp() override { EncryptWith("eu"); }

  // Appends events seq [from, to) of story 1 to partition 0, one per group.
  void Append(EmbeddedLog& log, int from, int to) {
    for (int i = from; i < to; ++i) ASSERT_TRUE(AppendAndWait(log, {MakeEvent(1, i)}).ok());
  }
  // Reads partition 0 from `from` and checks it holds events [from, end).
  void ExpectEvents(EmbeddedLog& log, uint64_t from, uint64_t end) {
    std::vector<LogRecord> got;
    Status s = ReadAll(log, 0, from, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.size(), end - from);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].offset.value, from + i);
      EXPECT_EQ(got[i].event, MakeEvent(1, from + i));
    }
  }
  // Events 0..9 in partition 0's one segment, the log closed; returns the segment's path.
  std::string WriteTenAndClose() {
    auto log = OpenLog(Options());
    EXPECT_NE(log, nullptr);
    if (log) Append(*log, 0, 10);
    return SegmentFiles().back();
  }
  // Segments of 4 KiB: a few records each.
  EmbeddedLogOptions SmallSegments() {
    auto o = Options();
    o.segment_bytes = 4096;
    return o;
  }
  // Events 0..n-1 in partition 0's small segments, the log closed; returns the segments' paths.
  std::vector<std::string> WriteSmallSegmentsAndClose(int n) {
    {
      auto log = OpenLog(SmallSegments());
      EXPECT_NE(log, nullptr);
      if (log) Append(*log, 0, n);
    }
    return SegmentFiles();
  }
  // Reading partition 0 from 0 stops with a corruption error at offset 4 of
  // `seg`, after records 0..3 (never the damaged one). Returns the error.
  Status ExpectCorruptionAtRecord4(EmbeddedLog& log, const std::string& seg) {
    std::vector<LogRecord> got;
    Status s = ReadAll(log, 0, 0, &got);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
    EXPECT_NE(s.message().find("offset 4 of " + seg), std::string::npos) << s.ToString();
    EXPECT_EQ(got.size(), 4u) << "the records before it, never the damaged one";
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].event, MakeEvent(1, i));
    return s;
  }
  std::vector<std::string> SegmentFiles(uint32_t p = 0) const {
    std::vector<std::string> out;
    for (const auto& n : Segments(p))
      if (n.ends_with(".seg")) out.push_back(JoinPath(PartitionDir(p), n));
    return out;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  static void Spit(const std::string& path, const std::string& data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << data;
  }
  // Byte positions of the records of a segment file.
  static std::vector<size_t> RecordStarts(const std::string& data) {
    std::vector<size_t> starts;
    uint32_t len = 0;
    for (size_t pos = 0; CheckFrame(std::string_view(data).substr(pos), &len) == Frame::kRecord;
         pos += format::kRecordHeaderSize + len)
      starts.push_back(pos);
    return starts;
  }
  // Rewrites a record's CRC to match its (tampered) payload, so only the GCM
  // tag can tell.
  static void FixCrc(std::string* data, size_t start) {
    const uint32_t len = GetFixed32(data->data() + start);
    PutFixed32(data->data() + start + 4, crc32c::Extend(0, data->data() + start + format::kRecordHeaderSize, len));
  }
};

TEST_F(EncryptedLogTest, SealedRecordsRoundTripAcrossSegmentsAndReopen) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 120);
  ExpectEvents(*log, 0, 120);
  ExpectEvents(*log, 77, 120);
  const auto segments = SegmentFiles();
  ASSERT_GE(segments.size(), 3u);
  for (const auto& seg : segments) {
    SCOPED_TRACE(seg);
    ASSERT_TRUE(std::filesystem::exists(seg + ".key"));
    const std::string data = Slurp(seg);
    for (size_t start : RecordStarts(data))
      EXPECT_EQ(static_cast<uint8_t>(data[start + format::kRecordHeaderSize]), format::kKindSealedV1);
    // The traceparent every other event carries is nowhere in clear.
    EXPECT_EQ(data.find("0af7651916cd43dd8448eb211c80319c"), std::string::npos);
  }
  // Each segment has its own data key.
  EXPECT_NE(Slurp(segments[0] + ".key"), Slurp(segments[1] + ".key"));
  log.reset();
  log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->EndOffset(0).value, 120u);
  Append(*log, 120, 130);
  ExpectEvents(*log, 0, 130);
}

TEST_F(EncryptedLogTest, FlippedBitIsACorruptionErrorNamingSegmentAndOffset) {
  const std::string seg = WriteTenAndClose();
  std::string data = Slurp(seg);
  const auto starts = RecordStarts(data);
  ASSERT_EQ(starts.size(), 10u);
  // A bit of record 4's ciphertext, with its CRC made to match: only the tag
  // can tell.
  data[starts[4] + format::kRecordHeaderSize + format::kPayloadPrefixSize + 12 + 3] ^= 0x04;
  FixCrc(&data, starts[4]);
  Spit(seg, data);
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->EndOffset(0).value, 10u) << "recovery checks frames, not tags";
  Status s = ExpectCorruptionAtRecord4(*log, seg);
  EXPECT_NE(s.message().find("does not authenticate"), std::string::npos) << s.ToString();
  // The records after it still open.
  ExpectEvents(*log, 5, 10);
}

TEST_F(EncryptedLogTest, TheAppendTimeIsAuthenticatedToo) {
  const std::string seg = WriteTenAndClose();
  std::string data = Slurp(seg);
  const auto starts = RecordStarts(data);
  ASSERT_EQ(starts.size(), 10u);
  // One bit of record 4's append time (in clear, after the kind byte), CRC fixed.
  data[starts[4] + format::kRecordHeaderSize + 1] ^= 0x01;
  FixCrc(&data, starts[4]);
  Spit(seg, data);
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  ExpectCorruptionAtRecord4(*log, seg).IgnoreError();  // checked inside
}

TEST_F(EncryptedLogTest, APlaintextRecordInASealedSegmentIsCorruption) {
  const std::string seg = WriteTenAndClose();
  std::string data = Slurp(seg);
  const auto starts = RecordStarts(data);
  ASSERT_EQ(starts.size(), 10u);
  // Record 4 swapped for a well-framed plaintext (kind 1) record with its own CRC.
  std::string forged;
  AppendRecord(testing::kT0, MakeEvent(1, 104), &forged);
  Spit(seg, data.substr(0, starts[4]) + forged + data.substr(starts[5]));
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  Status s = ExpectCorruptionAtRecord4(*log, seg);
  EXPECT_NE(s.message().find("plaintext record"), std::string::npos) << s.ToString();
}

TEST_F(EncryptedLogTest, AKeylessSegmentAfterASealedOneIsRefused) {
  const auto opts = SmallSegments();
  const auto segments = WriteSmallSegmentsAndClose(120);
  ASSERT_GE(segments.size(), 3u);
  // Segment 1 rewritten as an "old plaintext segment": its key file deleted,
  // its records replaced by plaintext ones with valid CRCs.
  for (const size_t victim : {size_t{1}, segments.size() - 1}) {
    SCOPED_TRACE(segments[victim]);
    const std::string saved_key = Slurp(segments[victim] + ".key"), saved = Slurp(segments[victim]);
    std::string forged;
    for (size_t i = 0; i < RecordStarts(saved).size(); ++i) AppendRecord(testing::kT0, MakeEvent(1, 900 + i), &forged);
    std::filesystem::remove(segments[victim] + ".key");
    Spit(segments[victim], forged);
    auto refused = EmbeddedLog::Open(opts);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
    EXPECT_NE(refused.status().message().find(segments[victim]), std::string::npos) << refused.status().ToString();
    Spit(segments[victim], saved);
    Spit(segments[victim] + ".key", saved_key);
  }
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  ExpectEvents(*log, 0, 120);
}

// The local provider, with Wrap failing while fail_wraps > 0: a KMS hiccup.
class FlakyProvider final : public keys::KeyProvider {
 public:
  explicit FlakyProvider(keys::KeyProvider& real) : real_(real) {}
  const std::string& region() const override { return real_.region(); }
  Result<keys::WrappedKey> Wrap(const keys::SecretKey& k) override {
    if (fail_wraps > 0) return --fail_wraps, Status::Unavailable("kms: connection reset");
    return real_.Wrap(k);
  }
  Result<keys::SecretKey> Unwrap(const keys::WrappedKey& w) override { return real_.Unwrap(w); }
  std::atomic<int> fail_wraps{0};

 private:
  keys::KeyProvider& real_;
};

TEST_F(EncryptedLogTest, AKeyProviderFailureAtARollKeepsAppendingAndRetries) {
  FlakyProvider flaky(*keys_);
  auto opts = SmallSegments();
  opts.keys = &flaky;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 10);
  ASSERT_EQ(SegmentFiles().size(), 1u);
  flaky.fail_wraps = 1;
  Append(*log, 10, 120);  // each append a group: the failed roll is retried at the next one
  EXPECT_EQ(flaky.fail_wraps.load(), 0);
  EXPECT_EQ(log->roll_key_failures(), 1u);
  ExpectEvents(*log, 0, 120);
  const auto segments = SegmentFiles();
  ASSERT_GE(segments.size(), 2u);
  for (const auto& seg : segments) EXPECT_TRUE(std::filesystem::exists(seg + ".key")) << seg;
  log.reset();
  log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  ExpectEvents(*log, 0, 120);
}

TEST_F(EncryptedLogTest, TemporaryKeyFilesLeftByACrashAreSweptAtOpen) {
  { OpenLog(Options()); }
  const std::string key = SegmentFiles().back() + ".key";
  const std::vector<std::string> leftovers = {key + ".tmp", key + ".rewrap.tmp", key + ".rewrap.tmp.999999999"};
  for (const auto& t : leftovers) Spit(t, "half");
  const std::string live = key + ".rewrap.tmp." + std::to_string(getpid());  // a running rewrap's: kept
  Spit(live, "busy");
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  for (const auto& t : leftovers) EXPECT_FALSE(std::filesystem::exists(t)) << t;
  EXPECT_TRUE(std::filesystem::exists(live));
}

TEST_F(EncryptedLogTest, RewrapUsesATemporaryFileOfItsOwn) {
  const std::string seg = WriteTenAndClose();
  const std::string key = seg + ".key";
  // Another rewrap's temporary, in use (a directory here, so it cannot be
  // replaced): this one must not touch it.
  std::filesystem::create_directory(key + ".rewrap.tmp");
  auto id = RewrapSegmentKey(FileSystem::Default(), *keys_, key);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(std::filesystem::is_directory(key + ".rewrap.tmp"));
  std::filesystem::remove(key + ".rewrap.tmp");
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  ExpectEvents(*log, 0, 10);
}

TEST_F(EncryptedLogTest, AnOversizedKeyFileIsRefusedWithoutReadingIt) {
  const std::string seg = WriteTenAndClose();
  // A sparse 1 TiB key file: reading it first would exhaust memory.
  std::filesystem::resize_file(seg + ".key", uint64_t{1} << 40);
  auto k = ReadSegmentKey(FileSystem::Default(), seg);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), StatusCode::kCorruption);
  EXPECT_NE(k.status().message().find("too large"), std::string::npos) << k.status().ToString();
}

TEST_F(EncryptedLogTest, RecordsMovedToAnotherOffsetOrPartitionDoNotOpen) {
  auto opts = Options(2);
  const uint64_t story0 = testing::StoryIn(0, 2), story1 = testing::StoryIn(1, 2);
  {
    auto log = OpenLog(opts);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(story0, i), MakeEvent(story1, i)}).ok());
  }
  // Swap records 0 and 1 of partition 0: both frames stay valid.
  const std::string seg = SegmentFiles(0).back();
  std::string data = Slurp(seg);
  auto starts = RecordStarts(data);
  const std::string r0 = data.substr(starts[0], starts[1] - starts[0]),
                    r1 = data.substr(starts[1], starts[2] - starts[1]);
  Spit(seg, r1 + r0 + data.substr(starts[2]));
  // Partition 1's segment and key file copied over partition 0's: the partition
  // is bound too.
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  std::vector<LogRecord> got;
  Status s = ReadAll(*log, 0, 0, &got);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_TRUE(got.empty());
  log.reset();
  const std::string seg1 = SegmentFiles(1).back();
  std::filesystem::copy_file(seg1, seg, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(seg1 + ".key", seg + ".key", std::filesystem::copy_options::overwrite_existing);
  log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  got.clear();
  s = ReadAll(*log, 0, 0, &got);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_TRUE(got.empty());
}

TEST_F(EncryptedLogTest, TornTailOfASealedSegmentIsTruncatedAndAppendsContinue) {
  const std::string seg = WriteTenAndClose();
  std::string data = Slurp(seg);
  const auto starts = RecordStarts(data);
  const size_t last = data.size() - starts.back();
  std::filesystem::resize_file(seg, data.size() - last / 2);
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery_report().truncated_bytes, last - last / 2);
  EXPECT_EQ(log->EndOffset(0).value, 9u);
  ASSERT_TRUE(AppendAndWait(*log, {MakeEvent(1, 9)}).ok());
  ExpectEvents(*log, 0, 10);
}

TEST_F(EncryptedLogTest, DamageBeforeValidSealedRecordsIsRefused) {
  const std::string seg = WriteTenAndClose();
  std::string data = Slurp(seg);
  const auto starts = RecordStarts(data);
  data[starts[3] + 20] ^= 0x01;  // breaks record 3's CRC; 6 valid sealed records follow
  Spit(seg, data);
  auto refused = EmbeddedLog::Open(Options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("followed by 6 valid records"), std::string::npos)
      << refused.status().ToString();
}

TEST_F(EncryptedLogTest, PlaintextSegmentsStayReadableAfterEncryptionIsTurnedOn) {
  EncryptionOff();
  {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    Append(*log, 0, 5);
  }
  ASSERT_EQ(SegmentFiles().size(), 1u);
  EncryptWith("eu");
  {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    Append(*log, 5, 10);
    ExpectEvents(*log, 0, 10);
  }
  // The plaintext segment kept its records; new ones went to a sealed segment.
  const auto segments = SegmentFiles();
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(segments[0] + ".key"));
  EXPECT_TRUE(std::filesystem::exists(segments[1] + ".key"));
  EXPECT_EQ(segments[1], JoinPath(PartitionDir(0), "00000000000000000005.seg"));
  // Turned off again: the log refuses to start rather than fail later.
  EncryptionOff();
  auto refused = EmbeddedLog::Open(Options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("is encrypted"), std::string::npos) << refused.status().ToString();
}

TEST_F(EncryptedLogTest, AnotherRegionsKeysCannotOpenTheLog) {
  {
    auto log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    Append(*log, 0, 3);
  }
  EncryptWith("us");  // us has keys of its own, not eu's
  auto refused = EmbeddedLog::Open(Options());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(SegmentFiles().back()), std::string::npos) << refused.status().ToString();
}

TEST_F(EncryptedLogTest, AfterRotationOldSegmentsStillReadAndNewOnesUseTheNewKey) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  keys::LocalKeyStore store(KeysDir(), "eu");
  const std::string old_key = store.Current().value();
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 60);
  const size_t before = SegmentFiles().size();
  auto rotated = store.Create(true);
  ASSERT_TRUE(rotated.ok());
  Append(*log, 60, 150);
  ExpectEvents(*log, 0, 150);
  const auto segments = SegmentFiles();
  ASSERT_GT(segments.size(), before);
  auto first = ReadSegmentKey(FileSystem::Default(), segments.front());
  auto newest = ReadSegmentKey(FileSystem::Default(), segments.back());
  ASSERT_TRUE(first.ok() && newest.ok());
  EXPECT_EQ(first->key_id, old_key);
  EXPECT_EQ(newest->key_id, *rotated);
  log.reset();
  log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  ExpectEvents(*log, 0, 150);
  log.reset();
  // Without the old key the log cannot open: its segments need it. (The
  // same provider, which cached the old key: a retired key is gone at once.)
  ASSERT_TRUE(store.Retire(old_key).ok());
  auto refused = EmbeddedLog::Open(opts);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kNotFound) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find(old_key), std::string::npos);
}

TEST_F(EncryptedLogTest, RetentionDeletesTheKeyFileWithItsSegment) {
  auto opts = Options();
  opts.segment_bytes = 4096;
  opts.retention_ms = 1000;
  auto log = OpenLog(opts);
  ASSERT_NE(log, nullptr);
  Append(*log, 0, 100);
  const auto segments = SegmentFiles();
  ASSERT_GE(segments.size(), 3u);
  clock_.AdvanceMs(10'000);
  Append(*log, 100, 101);
  log->SetRetentionFloor(0, log->EndOffset(0));
  ASSERT_TRUE(log->EnforceRetention().ok());
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    EXPECT_FALSE(std::filesystem::exists(segments[i])) << segments[i];
    EXPECT_FALSE(std::filesystem::exists(segments[i] + ".key")) << segments[i];
  }
  EXPECT_TRUE(std::filesystem::exists(SegmentFiles().back() + ".key"));
  ExpectEvents(*log, log->StartOffset(0).value, 101);
}

TEST_F(EncryptedLogTest, AKeyFileWithoutItsSegmentIsRemovedAtOpen) {
  { OpenLog(Options()); }
  // Past the last segment: a roll's key file, written before a crash that
  // came before its segment file.
  const std::string orphan = JoinPath(PartitionDir(0), "00000000000000000042.seg.key");
  std::filesystem::copy_file(SegmentFiles().back() + ".key", orphan);
  auto log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(std::filesystem::exists(orphan));
}

TEST_F(EncryptedLogTest, OnlyRetentionsLeftoverKeyFilesAreRemovedNotThoseOfMissingMiddleSegments) {
  const auto segments = WriteSmallSegmentsAndClose(160);
  ASSERT_GE(segments.size(), 4u);
  // Segment 0 gone with its key file left (retention's delete), segment 2
  // missing (a partial restore): its key file must survive.
  std::filesystem::remove(segments[0]);
  std::filesystem::remove(segments[2]);
  auto log = OpenLog(SmallSegments());
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(std::filesystem::exists(segments[0] + ".key"));
  EXPECT_TRUE(std::filesystem::exists(segments[2] + ".key"));
}

TEST(SegmentKeyFileTest, RoundTripsAndRefusesMalformedText) {
  keys::WrappedKey k{"20261205T130501.123456Z-3fa9c2", std::string("\x01\x02\xff", 3)};
  const std::string text = EncodeSegmentKey(k);
  auto back = ParseSegmentKey(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->key_id, k.key_id);
  EXPECT_EQ(back->blob, k.blob);
  for (const std::string& bad : std::vector<std::string>{
           std::string(), text.substr(0, text.size() - 1), "watershed-segment-key v2\n" + text.substr(25),
           "watershed-segment-key v1\n-bad\n0102\n", "watershed-segment-key v1\nk1\nzz\n",
           "watershed-segment-key v1\nk1\n0A\n", "watershed-segment-key v1\nk1\n\n", text + "extra\n"}) {
    auto r = ParseSegmentKey(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << bad;
  }
}

}  // namespace
}  // namespace watershed::log
