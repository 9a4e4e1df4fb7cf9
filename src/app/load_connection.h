#pragma once
// One connection of `watershed load`: a thread that sends the batches pushed
// to it one at a time, in order, each until it is acknowledged. So the
// events of one (region, partition) lane, all on one connection, reach the
// log in generation order, which the ground truth relies on.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/client_flags.h"  // the client types
#include "app/token_minter.h"
#include "core/event.h"
#include "core/log_linear_histogram.h"

namespace watershed::app {

// Totals of all connections, read by the progress reporter.
struct LoadCounters {
  std::atomic<uint64_t> sent{0}, acked{0}, retries{0}, refused{0};
  std::atomic<bool> fatal{false};  // a connection gave up; the others stop too
  LogLinearHistogram latency_ns;   // of acknowledged requests
};

class LoadConnection {
 public:
  // Requests carry minter's per-viewer token when minter is set, else `token` when non-empty.
  LoadConnection(ClientOptions options, const TokenMinter* minter, std::string token, bool protobuf,
                 LoadCounters* counters);
  // Queues a batch (blocks while 32 are queued); with minter set, all of
  // `events` belong to one viewer.
  void Push(std::vector<Event> events, bool send_twice);
  // Sends what is queued, then joins the thread.
  void Finish();

 private:
  struct Item {
    std::string body;
    size_t events;
    bool send_twice;
    uint64_t viewer;
    Region region;
  };
  void Run();
  void Send(HttpClient& client, const Item& item);

  const ClientOptions options_;
  const TokenMinter* minter_;
  const std::string token_;
  const bool protobuf_;
  LoadCounters* counters_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Item> queue_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace watershed::app
