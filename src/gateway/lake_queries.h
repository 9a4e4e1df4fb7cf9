#pragma once
// Runs lake queries for the API (POST /v1/query, GET /v1/stories/{id}/history)
// off the HTTP I/O threads: a query reads Parquet files for as long as it
// takes, and an I/O thread serves many connections. A fixed number of
// queries is admitted at once (running, or sending their answer); one more
// is refused at once rather than queued, so a burst of expensive queries
// cannot pile up memory or delay everyone's answer.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/event.h"
#include "core/file_system.h"
#include "gateway/query_request.h"

namespace watershed::gateway {

struct LakeQueryOptions {
  FileSystem* fs = nullptr;
  std::string root;             // the lake root (each region's tables under <root>/<region>/)
  Region region = Region::kUs;  // the region of a bare table name
  std::vector<Region> regions;  // history sums these regions' story_minute
  int max_running = 2;          // queries admitted at once; also the threads
  QueryRequestLimits limits;
  // Each query's memory (hash tables, sorts, results) and time: past
  // either it stops with 413 query_too_large / 503 (query-memory, query-timeout).
  int64_t max_memory_bytes = 1ll << 30;
  int64_t timeout_ms = 60'000;
  int threads = 1;  // scan threads of one query (query-threads)
};

class LakeQueries {
 public:
  explicit LakeQueries(LakeQueryOptions options);
  // Runs every admitted job, then joins the threads.
  ~LakeQueries();
  const LakeQueryOptions& options() const { return options_; }

  // While any copy of a slot lives, its query counts against max_running
  // (an answer being streamed keeps its slot).
  using Slot = std::shared_ptr<void>;
  // Runs job(slot) on a query thread; false, doing nothing, when
  // max_running queries are admitted.
  bool TrySubmit(std::function<void(Slot)> job);
  int64_t admitted() const;

 private:
  void Work();

  const LakeQueryOptions options_;
  struct Count {
    std::mutex mu;
    int64_t admitted = 0;
  };
  std::shared_ptr<Count> count_ = std::make_shared<Count>();  // outlives this: slots may
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace watershed::gateway
