// `watershed load`: drives the deterministic workload against a server over
// HTTP, with client retries, and writes or verifies the ground truth.
//
// Ordering guarantee the truth relies on: every (region, partition) is served
// by exactly one connection, which sends its batches one at a time and
// retries a batch until it is acknowledged. So the log order of the distinct
// events of a partition equals their generation order.
//
// With auth on (--secret-file) a request carries one viewer's token, so a
// batch holds a run of consecutive events of one viewer (as an app sends its
// own user's events); the runs of a lane still go out in generation order.

#include <simdjson.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "app/auth_setup.h"
#include "app/client_flags.h"
#include "app/commands.h"
#include "app/config.h"
#include "auth/signer.h"
#include "core/clock.h"
#include "core/event_codec.h"
#include "core/event_proto.h"
#include "core/file_system.h"
#include "core/metrics.h"
#include "workload/generator.h"
#include "workload/truth.h"

namespace watershed::app {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kHelp =
    "usage: watershed load [flags]\n"
    "       watershed load --verify TRUTH [--timeout 120s] [connection flags]\n\n"
    "Sends the deterministic workload (Zipf stories, 85% views / 10% shares / 5% replies,\n"
    "out-of-order and late events, re-sent batches) and retries failed batches until\n"
    "they are acknowledged.\n\n"
    "  --rate N                  events per second, 0 = as fast as possible (10000)\n"
    "  --duration D              stop after D, e.g. 30s, 2m (30s unless --events)\n"
    "  --events N                stop after N generated events\n"
    "  --batch N                 events per request (100)\n"
    "  --connections N           parallel connections (4)\n"
    "  --seed N --stories N --authors N --viewers N   workload shape (1, 10000, 1000, 1000000)\n"
    "  --duplicate-batches F     fraction of batches sent twice (0.02)\n"
    "  --late-fraction F         events minutes late (0.005)\n"
    "  --out-of-order-fraction F events seconds out of order (0.10)\n"
    "  --event-time-rate N       events per second of event time (--rate, or 100000)\n"
    "  --truth FILE              write the ground truth of the distinct events to FILE\n"
    "  --partitions N            the server's partitions per region (read from /v1/status\n"
    "                            unless given; give it when sending to `watershed gateway`)\n"
    "  --show-top SECONDS        print the top stories every SECONDS while running\n"
    "  --verify FILE             wait for lag 0, compare every story and window with FILE;\n"
    "                            exit 1 on any mismatch\n"
    "  --timeout D               how long --verify waits for lag 0 (120s)\n"
    "  --secret-file FILE        the server's HS256 secret: sign a token per viewer (and an\n"
    "                            admin token for status and --verify unless --token is given)\n"
    "  --issuer S --audience S   claims of those tokens (watershed, watershed)\n"
    "  --protobuf                send application/x-protobuf bodies instead of JSON\n"
    "  --viewer-batches          one viewer per request even without --secret-file (to compare\n"
    "                            auth on and off with the same request shape)\n"
    "Connection flags:\n";

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "watershed load: %s\n", message.c_str());
  return code;
}

template <typename T>
bool ParseNum(const std::string& s, T* out) {
  try {
    size_t used = 0;
    if constexpr (std::is_floating_point_v<T>) {
      *out = static_cast<T>(std::stod(s, &used));
    } else {
      long long v = std::stoll(s, &used);
      if (v < 0) return false;
      *out = static_cast<T>(v);
    }
    return used == s.size();
  } catch (...) {
    return false;
  }
}

// Partitions per region, read from /v1/status (or `known`, then /healthz
// only); waits for the server to come up.
Result<uint32_t> DiscoverPartitions(HttpClient& client, int64_t wait_ms, std::optional<uint32_t> known) {
  auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    auto r = client.Get(known ? "/healthz" : "/v1/status");
    if (known && r.ok() && r->status == 200) return *known;
    if (r.ok() && r->status == 404)
      return Status::FailedPrecondition("/v1/status is not served there (a gateway?): give --partitions");
    if (r.ok() && r->status == 200) {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return Status::Internal("unreadable /v1/status");
      uint64_t most = 0;
      for (auto p : doc["partitions"].get_array()) most = std::max(most, p["partition"].get_uint64().value_unsafe() + 1);
      if (most == 0) return Status::Internal("server reports no partitions");
      return static_cast<uint32_t>(most);
    }
    if (Clock::now() > deadline)
      return Status::Unavailable(r.ok() ? "status answered HTTP " + std::to_string(r->status) : r.status().message());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

struct Shared {
  std::atomic<uint64_t> sent{0}, acked{0}, retries{0}, refused{0};
  std::atomic<bool> fatal{false};
  Histogram latency;
};

// Signs the per-viewer tokens of --secret-file; thread-safe.
class TokenMinter {
 public:
  TokenMinter(std::string secret, std::string issuer, std::string audience)
      : secret_(std::move(secret)), issuer_(std::move(issuer)), audience_(std::move(audience)) {}
  Result<std::string> Mint(uint64_t user, Region region, auth::RoleSet roles) const {
    const auth::TokenClaims t = NewTokenClaims(user, region, roles, 3600, issuer_, audience_);
    return auth::SignToken(t, auth::SigningKey{.alg = auth::Algorithm::kHs256, .key = secret_, .kid = ""});
  }

 private:
  std::string secret_, issuer_, audience_;
};

class Connection {
 public:
  // Requests carry minter's per-viewer token, else `token` when non-empty.
  Connection(ClientOptions options, const TokenMinter* minter, std::string token, bool protobuf, Shared* shared)
      : options_(std::move(options)), minter_(minter), token_(std::move(token)), protobuf_(protobuf), shared_(shared) {
    thread_ = std::thread([this] { Run(); });
  }
  void Push(std::vector<Event> events, bool send_twice) {
    std::unique_lock lock(mu_);
    // Polls as well: `fatal` may be set by another connection's thread.
    while (!space_.wait_for(lock, std::chrono::milliseconds(100),
                            [&] { return queue_.size() < 32 || shared_->fatal.load(); })) {
    }
    queue_.push_back({protobuf_ ? EncodeEventBatchProto(events) : EncodeEventBatchJson(events), events.size(),
                      send_twice, events[0].viewer_id.value, events[0].region});
    ready_.notify_one();
  }
  void Finish() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
      ready_.notify_one();
    }
    thread_.join();
  }

 private:
  struct Item {
    std::string body;
    size_t events;
    bool send_twice;
    uint64_t viewer;  // of every event, when minting per-viewer tokens
    Region region;
  };
  void Run() {
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
          std::fprintf(stderr, "watershed load: cannot sign a token: %s\n", s.ToString().c_str());
          shared_->fatal = true;
          return;
        }
      }
      for (int copy = 0; copy < (item.send_twice ? 2 : 1); ++copy) Send(client, item);
      if (shared_->fatal.load()) return;
    }
  }
  // Sends until acknowledged: connection failures, 503s and 429s are retried
  // with back-off (at least Retry-After) for up to two minutes; other answers
  // are final.
  void Send(HttpClient& client, const Item& item) {
    auto give_up = Clock::now() + std::chrono::minutes(2);
    int backoff_ms = 50;
    for (;;) {
      auto start = Clock::now();
      auto r = client.Request("POST", "/v1/events", item.body, protobuf_ ? "application/x-protobuf" : "application/json");
      if (r.ok() && r->status == 200) {
        shared_->latency.ObserveNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
        shared_->acked += item.events;
        return;
      }
      if (!r.ok() && r.status().code() != StatusCode::kUnavailable) {
        // A TLS setup or handshake failure: retrying cannot help.
        std::fprintf(stderr, "watershed load: %s\n", r.status().message().c_str());
        shared_->fatal = true;
        return;
      }
      if (r.ok() && r->status != 503 && r->status != 429) {
        if (shared_->refused.fetch_add(item.events) == 0)
          std::fprintf(stderr, "watershed load: batch refused, HTTP %d: %s\n", r->status, r->body.c_str());
        return;
      }
      ++shared_->retries;
      if (Clock::now() > give_up) {
        std::fprintf(stderr, "watershed load: giving up after 2 minutes of failures: %s\n",
                     r.ok() ? r->body.c_str() : r.status().message().c_str());
        shared_->fatal = true;
        return;
      }
      int wait_ms = backoff_ms;
      if (r.ok() && !r->retry_after.empty()) wait_ms = std::max(wait_ms, 1000 * std::atoi(r->retry_after.c_str()));
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      backoff_ms = std::min(backoff_ms * 2, 1000);
    }
  }

  const ClientOptions options_;
  const TokenMinter* minter_;
  const std::string token_;
  const bool protobuf_;
  Shared* shared_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Item> queue_;
  bool done_ = false;
  std::thread thread_;
};

void PrintTop(HttpClient& client) {
  auto r = client.Get("/v1/top?by=views&limit=5");
  if (!r.ok() || r->status != 200) return;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return;
  std::printf("  top stories  %8s %8s %14s %7s %7s\n", "views", "uniques", "watch_time_ms", "shares", "replies");
  for (auto s : doc["stories"].get_array()) {
    std::printf("  story %-6lu %8lu %8lu %14lu %7lu %7lu\n",
                static_cast<unsigned long>(s["story_id"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["views"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["unique_viewers"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["watch_time_ms"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["shares"].get_uint64().value_unsafe()),
                static_cast<unsigned long>(s["replies"].get_uint64().value_unsafe()));
  }
}

bool ReadAggregates(simdjson::dom::element e, workload::Aggregates* a) {
  return e["views"].get(a->views) == simdjson::SUCCESS && e["unique_viewers"].get(a->unique_viewers) == simdjson::SUCCESS &&
         e["watch_time_ms"].get(a->watch_time_ms) == simdjson::SUCCESS && e["shares"].get(a->shares) == simdjson::SUCCESS &&
         e["replies"].get(a->replies) == simdjson::SUCCESS;
}

std::string Describe(const workload::Aggregates& a) {
  return "views=" + std::to_string(a.views) + " uniques=" + std::to_string(a.unique_viewers) +
         " watch=" + std::to_string(a.watch_time_ms) + " shares=" + std::to_string(a.shares) +
         " replies=" + std::to_string(a.replies);
}

// GET that waits out 429s (rate limits) as their Retry-After says.
Result<ClientResponse> GetPolitely(HttpClient& client, const std::string& target) {
  for (int attempt = 0;; ++attempt) {
    auto r = client.Get(target);
    if (!r.ok() || r->status != 429 || attempt == 100) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max(100, 1000 * std::atoi(r->retry_after.c_str()))));
  }
}

int Verify(const std::string& truth_path, HttpClient& client, int64_t timeout_ms) {
  auto truth = workload::ReadTruthFile(truth_path);
  if (!truth.ok()) return Fail(truth.status().message(), 2);
  // Wait until every acknowledged event is visible.
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  simdjson::dom::parser parser;
  for (;;) {
    auto r = client.Get("/v1/status");
    uint64_t lag = UINT64_MAX;
    simdjson::dom::element doc;
    if (r.ok() && r->status == 200 && parser.parse(r->body).get(doc) == simdjson::SUCCESS) lag = doc["lag"].get_uint64().value_unsafe();
    if (lag == 0) break;
    if (Clock::now() > deadline) return Fail("lag did not reach 0 within the timeout");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  uint64_t mismatches = 0, windows_checked = 0, finals = 0;
  auto mismatch = [&](const std::string& what) {
    if (++mismatches <= 20) std::printf("MISMATCH %s\n", what.c_str());
  };
  for (const auto& [id, story] : truth->stories) {
    auto r = GetPolitely(client, "/v1/stories/" + std::to_string(id) + "/metrics");
    if (!r.ok()) return Fail(r.status().message());
    simdjson::dom::element doc;
    workload::Aggregates got;
    uint64_t author = 0;
    if (r->status != 200 || parser.parse(r->body).get(doc) != simdjson::SUCCESS || !ReadAggregates(doc, &got) ||
        doc["author_id"].get(author) != simdjson::SUCCESS) {
      mismatch("story " + std::to_string(id) + ": HTTP " + std::to_string(r->status) + " " + r->body);
      continue;
    }
    if (got != story.totals || author != story.author_id)
      mismatch("story " + std::to_string(id) + ": expected " + Describe(story.totals) + " author=" +
               std::to_string(story.author_id) + ", got " + Describe(got) + " author=" + std::to_string(author));
  }
  // Windows: one series request per (story, size).
  for (auto it = truth->windows.begin(); it != truth->windows.end();) {
    const auto [story, size, first_start] = it->first;
    auto end = it;
    int64_t last_start = first_start;
    while (end != truth->windows.end() && std::get<0>(end->first) == story && std::get<1>(end->first) == size)
      last_start = std::get<2>((end++)->first);
    const std::string window = size == 5'000 ? "5s" : "1m";
    auto r = GetPolitely(client, "/v1/stories/" + std::to_string(story) + "/series?window=" + window + "&from=" +
                        std::to_string(first_start) + "&to=" + std::to_string(last_start + 1));
    if (!r.ok()) return Fail(r.status().message());
    std::map<int64_t, std::pair<workload::Aggregates, bool>> got;
    simdjson::dom::element doc;
    if (r->status == 200 && parser.parse(r->body).get(doc) == simdjson::SUCCESS) {
      for (auto p : doc["points"].get_array()) {
        workload::Aggregates a;
        ReadAggregates(p, &a);
        got[p["start"].get_int64().value_unsafe()] = {a, p["final"].get_bool().value_unsafe()};
      }
    } else {
      mismatch("series of story " + std::to_string(story) + ": HTTP " + std::to_string(r->status));
    }
    for (; it != end; ++it) {
      ++windows_checked;
      finals += it->second.final;
      const std::string name = "window story=" + std::to_string(story) + " " + window + " start=" +
                               std::to_string(std::get<2>(it->first));
      auto g = got.find(std::get<2>(it->first));
      if (g == got.end()) {
        mismatch(name + ": missing");
        continue;
      }
      if (g->second.first != it->second.agg || g->second.second != it->second.final)
        mismatch(name + ": expected " + Describe(it->second.agg) + (it->second.final ? " final" : " open") +
                 ", got " + Describe(g->second.first) + (g->second.second ? " final" : " open"));
      got.erase(g);
    }
    for (const auto& [start, value] : got)
      mismatch("window story=" + std::to_string(story) + " " + window + " start=" + std::to_string(start) +
               ": not in the truth");
  }
  std::printf("verify: %zu stories, %lu windows (%lu final) checked against %s: %lu mismatches\n",
              truth->stories.size(), static_cast<unsigned long>(windows_checked), static_cast<unsigned long>(finals),
              truth_path.c_str(), static_cast<unsigned long>(mismatches));
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

int LoadCommand(const std::vector<std::string>& args) {
  Flags f;
  std::string error;
  std::vector<std::string> names = {"rate", "duration", "events", "batch", "connections", "seed", "stories",
                                    "authors", "viewers", "duplicate-batches", "late-fraction",
                                    "out-of-order-fraction", "event-time-rate", "truth", "partitions", "show-top", "verify",
                                    "timeout", "secret-file", "issuer", "audience", "protobuf!", "viewer-batches!",
                                    "help!"};
  names.insert(names.end(), ClientFlagNames().begin(), ClientFlagNames().end());
  if (!Flags::Parse(args, names, &f, &error) || !f.positional().empty())
    return Fail((error.empty() ? "unexpected argument " + f.positional()[0] : error) + "\n" + kHelp +
                    kClientFlagsHelp, 2);
  if (f.Has("help")) {
    std::printf("%s%s", kHelp, kClientFlagsHelp);
    return 0;
  }
  auto client_options = ClientOptionsFrom(f);
  if (!client_options.ok()) return Fail(client_options.status().message(), 2);
  std::unique_ptr<TokenMinter> minter;
  std::string control_token = BearerTokenFrom(f);
  if (f.Has("secret-file")) {
    auto secret = ReadHs256Secret(FileSystem::Default(), f.Get("secret-file"));
    if (!secret.ok()) return Fail(secret.status().message(), 2);
    minter = std::make_unique<TokenMinter>(*secret, f.Get("issuer", "watershed"), f.Get("audience", "watershed"));
    if (control_token.empty()) {
      auto admin = minter->Mint(0, Region::kUs, auth::RoleSet(static_cast<uint8_t>(auth::Role::kAdmin)));
      if (!admin.ok()) return Fail("cannot sign with --secret-file: " + admin.status().message(), 2);
      control_token = *admin;
    }
  }
  auto control_client = NewClient(*client_options, control_token);
  if (!control_client.ok()) return Fail(control_client.status().message(), 2);
  HttpClient& control = **control_client;
  int64_t timeout_ms = 120'000;
  if (f.Has("timeout")) {
    auto t = ParseDurationMs("--timeout", f.Get("timeout"), 1000);  // a bare number is seconds here
    if (!t.ok()) return Fail(t.status().message(), 2);
    timeout_ms = *t;
  }
  if (f.Has("verify")) return Verify(f.Get("verify"), control, timeout_ms);

  workload::WorkloadOptions w;
  double rate = 10'000;
  uint64_t max_events = UINT64_MAX, batch = 100, connections = 4;
  int64_t duration_ms = f.Has("events") ? INT64_MAX : 30'000, show_top_ms = 0;
  bool ok = ParseNum(f.Get("rate", "10000"), &rate) && ParseNum(f.Get("batch", "100"), &batch) &&
            ParseNum(f.Get("connections", "4"), &connections) && ParseNum(f.Get("seed", "1"), &w.seed) &&
            ParseNum(f.Get("stories", "10000"), &w.stories) && ParseNum(f.Get("authors", "1000"), &w.authors) &&
            ParseNum(f.Get("viewers", "1000000"), &w.viewers) &&
            ParseNum(f.Get("duplicate-batches", "0.02"), &w.duplicate_batch_fraction) &&
            ParseNum(f.Get("late-fraction", "0.005"), &w.late_fraction) &&
            ParseNum(f.Get("out-of-order-fraction", "0.10"), &w.out_of_order_fraction);
  if (ok && f.Has("events")) ok = ParseNum(f.Get("events"), &max_events);
  if (ok && f.Has("duration")) {
    auto d = ParseDurationMs("--duration", f.Get("duration"), 1000);  // a bare number is seconds here
    if (!d.ok()) return Fail(d.status().message(), 2);
    duration_ms = *d;
  }
  if (ok && f.Has("show-top")) {
    double secs = 0;
    ok = ParseNum(f.Get("show-top"), &secs);
    show_top_ms = static_cast<int64_t>(secs * 1000);
  }
  w.event_time_rate = rate > 0 ? rate : 100'000;
  if (ok && f.Has("event-time-rate")) ok = ParseNum(f.Get("event-time-rate"), &w.event_time_rate);
  if (!ok || batch < 1 || batch > kMaxEventsPerBatch || connections < 1 || connections > 256 || w.stories < 1 ||
      w.authors < 1 || w.viewers < 1 || w.event_time_rate <= 0)
    return Fail("bad flag value\n" + std::string(kHelp), 2);
  w.base_time_ms = watershed::Clock::Real()->NowMs();

  std::optional<uint32_t> known_partitions;
  if (f.Has("partitions")) {
    uint32_t n = 0;
    if (!ParseNum(f.Get("partitions"), &n) || n < 1 || n > 1024) return Fail("--partitions must be in 1..1024", 2);
    known_partitions = n;
  }
  auto partitions = DiscoverPartitions(control, 30'000, known_partitions);
  if (!partitions.ok()) return Fail("cannot reach the server: " + partitions.status().message());
  workload::TruthOptions truth_options;
  truth_options.partitions = *partitions;
  std::unique_ptr<workload::TruthBuilder> truth;
  if (f.Has("truth")) truth = std::make_unique<workload::TruthBuilder>(truth_options);

  Shared shared;
  std::vector<std::unique_ptr<Connection>> conns;
  const bool protobuf = f.Has("protobuf");
  const bool per_viewer = minter != nullptr || f.Has("viewer-batches");
  for (uint64_t c = 0; c < connections; ++c)
    conns.push_back(std::make_unique<Connection>(*client_options, minter.get(), control_token, protobuf, &shared));
  std::vector<std::vector<Event>> pending(connections);
  uint64_t batch_index = 0;
  auto flush = [&](uint64_t c) {
    if (pending[c].empty()) return;
    const bool twice = workload::IsRetriedBatch(w, batch_index++);
    shared.sent += pending[c].size() * (twice ? 2 : 1);  // re-sent copies count as sent
    conns[c]->Push(std::move(pending[c]), twice);
    pending[c].clear();
  };

  std::atomic<bool> generating{true};
  const auto start = Clock::now();
  std::thread reporter([&] {
    auto reporter_client = NewClient(*client_options, control_token);
    HttpClient& client = **reporter_client;  // same options as `control`, which succeeded
    uint64_t last_acked = 0;
    int64_t next_top = show_top_ms;
    for (int64_t tick = 1; generating.load(); ++tick) {
      for (int i = 0; i < 10 && generating.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      uint64_t acked = shared.acked.load();
      std::printf("[%3lds] sent %lu  acked %lu (%lu/s)  retries %lu  request p50 %.1f ms  p99 %.1f ms\n",
                  static_cast<long>(tick), static_cast<unsigned long>(shared.sent.load()),
                  static_cast<unsigned long>(acked), static_cast<unsigned long>(acked - last_acked),
                  static_cast<unsigned long>(shared.retries.load()), shared.latency.Quantile(0.5) * 1e3,
                  shared.latency.Quantile(0.99) * 1e3);
      last_acked = acked;
      if (show_top_ms > 0 && tick * 1000 >= next_top) {
        PrintTop(client);
        next_top += show_top_ms;
      }
      std::fflush(stdout);
    }
  });

  workload::Generator gen(w);
  const uint32_t parts = *partitions;
  for (uint64_t i = 0; i < max_events && !shared.fatal.load(); ++i) {
    if ((i & 1023) == 0) {
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      if (elapsed >= duration_ms) break;
      if (rate > 0) {
        auto due = start + std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(i) * 1e6 / rate));
        std::this_thread::sleep_until(due);
      }
    }
    Event e = gen.Next();
    if (truth) truth->Add(e);
    uint64_t lane = static_cast<uint64_t>(e.region) * parts + PartitionOf(e.story_id, parts);
    uint64_t c = lane % connections;
    // One viewer per request when each request carries that viewer's token.
    if (per_viewer && !pending[c].empty() && pending[c].back().viewer_id != e.viewer_id) flush(c);
    pending[c].push_back(std::move(e));
    if (pending[c].size() >= batch) flush(c);
  }
  for (uint64_t c = 0; c < connections; ++c) flush(c);
  for (auto& c : conns) c->Finish();
  generating = false;
  reporter.join();

  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("load: %lu events generated, %lu acknowledged (re-sent copies included) in %.1f s (%.0f events/s), "
              "%lu retries, %lu refused\n",
              static_cast<unsigned long>(gen.produced()), static_cast<unsigned long>(shared.acked.load()), secs,
              static_cast<double>(shared.acked.load()) / secs, static_cast<unsigned long>(shared.retries.load()),
              static_cast<unsigned long>(shared.refused.load()));
  if (truth) {
    auto t = truth->Finish();
    if (Status s = workload::WriteTruthFile(t, f.Get("truth")); !s.ok()) return Fail(s.message());
    std::printf("truth: %zu stories, %zu windows, %lu distinct events -> %s\n", t.stories.size(), t.windows.size(),
                static_cast<unsigned long>(t.distinct_events), f.Get("truth").c_str());
  }
  if (shared.fatal.load()) return Fail("the server stayed unavailable");
  return shared.refused.load() == 0 ? 0 : 1;
}

}  // namespace watershed::app
