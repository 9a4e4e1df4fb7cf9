#pragma once
// The story catalogue: the only source of a story's authorship (and later
// the item features of recommendations). Events carry an author_id, but
// any viewer can put any value there; a creator's right to read a story's
// metrics comes from here.
//
// A StoryCatalog holds the latest StoryRecord of each story, durably, in
// `<dir>/catalog.log` (format below). Every accepted change gets the next
// catalogue position (1, 2, ...), which becomes the record's `version`.
// Changes come from sources (PostgreSQL CDC, POST /v1/stories, `watershed
// catalog import`); a source that can replay (CDC after a crash) passes its
// own increasing position, and a change at or below the highest position
// already applied for that source is skipped, so a replay applies nothing
// twice.
//
// Shared by processes: the gateway, processors and query servers of a
// split deployment open the same directory (a shared file system with
// flock, like checkpoint-dir). Appends hold the flock of `<dir>/catalog.lock`
// and first read what other processes appended, so positions stay dense and
// a source's replay is recognised whoever applied it first; readers see
// other processes' changes at Refresh (Follow runs it periodically).
//
// Thread-safe: any number of readers, writers serialized. Apply returns
// once the changes are fdatasync'd.
//
// File format: a sequence of frames [u32 payload length][u32 CRC-32C of
// payload][payload], little-endian; a payload is one change (kChangeV1, see
// story_catalog.cc). A torn or corrupt frame at the end (a crash during an
// append) is truncated by the next writer (under the flock, so never while
// another process is still appending it); a corrupt frame followed by valid
// ones is refused (kCorruption): it is not what a crash leaves.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "core/status.h"

namespace watershed::catalog {

// Bounds of a record's fields; anything beyond is refused, never truncated.
inline constexpr size_t kMaxTitleBytes = 512;
inline constexpr size_t kMaxTags = 32;
inline constexpr size_t kMaxTagBytes = 64;
inline constexpr size_t kMaxLanguageBytes = 35;  // the longest BCP 47 tags in use
inline constexpr size_t kMaxSourceBytes = 128;

struct StoryRecord {
  StoryId story;
  AuthorId author;
  int64_t created_at_ms = 0;
  std::string title;
  std::vector<std::string> tags;
  std::string language;
  bool is_original = false;
  bool deleted = false;
  int64_t updated_at_ms = 0;
  uint64_t version = 0;  // the catalogue position of the change that wrote this record
  bool operator==(const StoryRecord&) const = default;
};

// kInvalidArgument naming the field when a record breaks a bound (ids 0,
// oversized text, too many tags, negative times).
Status ValidateStory(const StoryRecord& r);

// A source's own position of a change, ordered: (major, minor), e.g. a
// PostgreSQL commit LSN and the change's index in its transaction. {0, 0}:
// none.
struct SourcePosition {
  uint64_t major = 0;
  uint64_t minor = 0;
  auto operator<=>(const SourcePosition&) const = default;
  bool none() const { return major == 0 && minor == 0; }
};

struct CatalogChange {
  StoryRecord record;  // the whole new state of the story (its version is assigned on apply)
  std::string source;  // e.g. "pg:public.stories", "api", "import"
  // None: always applied. Else the source's own position, increasing: a
  // change at or below the highest position applied for `source` before
  // this Apply is skipped (changes within one Apply may share a position).
  SourcePosition source_position;
  // Compare-and-set: apply only if the story's current version is this one
  // (0: only if the catalogue does not know the story); else the whole
  // Apply fails with kFailedPrecondition and applies nothing.
  std::optional<uint64_t> if_version;
};

// The file format, exposed for tests and the fuzzer. EncodeCatalogFrame
// writes one frame; ScanCatalogFrames decodes the whole valid frames at the
// front of `data`: `valid_bytes` is where the first bad (torn, corrupt or
// undecodable) frame begins, and `damaged` says a valid frame follows it
// (so it is not what a crash leaves).
std::string EncodeCatalogFrame(const CatalogChange& change);
struct CatalogFrames {
  std::vector<CatalogChange> changes;
  size_t valid_bytes = 0;
  bool damaged = false;
};
CatalogFrames ScanCatalogFrames(std::string_view data);

// What the read side of the API and the processors need; implemented by
// StoryCatalog and by test doubles of failure paths.
class CatalogReader {
 public:
  virtual ~CatalogReader() = default;
  virtual std::optional<StoryRecord> Get(StoryId story) const = 0;
  // The author of a story that is not deleted; cheaper than Get.
  virtual std::optional<AuthorId> AuthorOf(StoryId story) const = 0;
  // Reads what other processes wrote since the last look (a reader that is
  // not shared with others has nothing to do).
  virtual Status Refresh() { return Status::Ok(); }
  // The author's stories that are not deleted, ascending by id.
  virtual std::vector<StoryId> StoriesOf(AuthorId author) const = 0;
};

class StoryCatalog : public CatalogReader {
 public:
  // Opens (creating `dir` when missing) and loads the catalogue.
  static Result<std::unique_ptr<StoryCatalog>> Open(FileSystem* fs, std::string dir);

  // Validates every change first (none is applied if one is invalid), then
  // appends the new ones durably and makes them visible. Returns how many
  // were applied (skipped replays are not counted).
  Result<size_t> Apply(std::vector<CatalogChange> changes);

  // Reads the changes other processes appended since the last read.
  Status Refresh() override;
  // Runs Refresh every interval_ms on a thread of its own until destroyed.
  void Follow(int64_t interval_ms);
  ~StoryCatalog() override;

  std::optional<StoryRecord> Get(StoryId story) const override;
  std::optional<AuthorId> AuthorOf(StoryId story) const override;
  std::vector<StoryId> StoriesOf(AuthorId author) const override;
  // Every story's latest record, deleted ones included, ascending by id (a
  // copy: for batch readers such as the recommenders' item features).
  std::vector<StoryRecord> All() const;
  // The position of the last applied change (0 for an empty catalogue).
  uint64_t position() const;
  // The highest source_position applied for `source` (none if none).
  watershed::catalog::SourcePosition SourcePositionOf(const std::string& source) const;
  size_t size() const;

 private:
  StoryCatalog(FileSystem* fs, std::string dir);
  // Applies the whole frames past consumed_. A bad frame ends the read; with
  // `repair` (REQUIRES: the flock held) it is truncated if nothing valid
  // follows it, else kCorruption. REQUIRES: io_mu_ held.
  Status CatchUp(bool repair);
  // REQUIRES: mu_ held exclusively.
  void ApplyInMemory(const CatalogChange& change);

  FileSystem* const fs_;
  const std::string dir_, path_, lock_path_;
  std::mutex io_mu_;  // one reader or appender of the file at a time in this process
  uint64_t consumed_ = 0;  // bytes of the file applied
  std::unique_ptr<WritableFile> log_;  // O_APPEND; null after a failed append
  std::mutex follow_mu_;
  std::condition_variable follow_cv_;
  bool stop_ = false;
  std::thread follower_;
  mutable std::shared_mutex mu_;  // guards what follows
  std::unordered_map<uint64_t, StoryRecord> stories_;
  std::map<uint64_t, std::set<uint64_t>> by_author_;  // live (not deleted) stories per author
  std::map<std::string, watershed::catalog::SourcePosition> source_positions_;
  uint64_t position_ = 0;
};

}  // namespace watershed::catalog
