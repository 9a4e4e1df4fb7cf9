#include "app/load_connection.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "app/client_flags.h"
#include "core/event_codec.h"
#include "core/event_proto.h"

namespace watershed::app {

using Clock = std::chrono::steady_clock;

LoadConnection::LoadConnection(ClientOptions options, const TokenMinter* minter, std::string token, bool protobuf,
                               LoadCounters* counters)
    : options_(std::move(options)),
      minter_(minter),
      token_(std::move(token)),
      protobuf_(protobuf),
      counters_(counters) {
  thread_ = std::thread([this] { Run(); });
}

void LoadConnection::Push(std::vector<Event> events, bool send_twice) {
  std::unique_lock lock(mu_);
  // Polls as well: `fatal` may be set by another connection's thread.
  while (!space_.wait_for(lock, std::chrono::milliseconds(100),
                          [&] { return queue_.size() < 32 || counters_->fatal.load(); })) {
  }
  queue_.push_back({protobuf_ ? EncodeEventBatchProto(events) : EncodeEventBatchJson(events), events.size(), send_twice,
                    events[0].viewer_id.value, events[0].region});
  ready_.notify_one();
}

void LoadConnection::Finish() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
    ready_.notify_one();
  }
  thread_.join();
}

void LoadConnection::Run() {
  ClientOptions o = options_;
  o.timeout_ms = 10'000;
  HttpClient client(o);
  if (!minter_ && !token_.empty()) client.SetHeader("Authorization", "Bearer " + token_).IgnoreError();
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [&] { return done_ || !queue_.empty(); });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      space_.notify_one();
    }
    if (minter_) {
      auto token = minter_->Mint(item.viewer, item.region, auth::RoleSet(static_cast<uint8_t>(auth::Role::kViewer)));
      Status s = token.ok() ? client.SetHeader("Authorization", "Bearer " + *token) : token.status();
      if (!s.ok()) {
        Fail("load", "cannot sign a token: " + s.ToString());
        counters_->fatal = true;
        return;
      }
    }
    for (int copy = 0; copy < (item.send_twice ? 2 : 1); ++copy) Send(client, item);
    if (counters_->fatal.load()) return;
  }
}

// Connection failures, 503s and 429s are retried with back-off (at least
// Retry-After) for up to two minutes; other answers are final.
void LoadConnection::Send(HttpClient& client, const Item& item) {
  auto give_up = Clock::now() + std::chrono::minutes(2);
  int backoff_ms = 50;
  for (;;) {
    auto start = Clock::now();
    auto r = client.Request("POST", "/v1/events", item.body, protobuf_ ? "application/x-protobuf" : "application/json");
    if (r.ok() && r->status == 200) {
      counters_->latency_ns.Record(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
      counters_->acked += item.events;
      return;
    }
    if (!r.ok() && r.status().code() != StatusCode::kUnavailable) {
      // A TLS setup or handshake failure: retrying cannot help.
      Fail("load", r.status().message());
      counters_->fatal = true;
      return;
    }
    if (r.ok() && r->status != 503 && r->status != 429) {
      if (counters_->refused.fetch_add(item.events) == 0)
        Fail("load", "batch refused, " + DescribeAnswer(*r, minter_ != nullptr || !token_.empty()));
      return;
    }
    ++counters_->retries;
    if (Clock::now() > give_up) {
      Fail("load",
           "giving up after 2 minutes of failures: " + (r.ok() ? DescribeAnswer(*r, true) : r.status().message()));
      counters_->fatal = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(r.ok() ? RetryAfterMs(*r, backoff_ms) : backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, 1000);
  }
}

}  // namespace watershed::app
