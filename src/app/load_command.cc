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

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "app/auth_setup.h"
#include "app/client_flags.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/load_generator.h"
#include "app/load_verifier.h"
#include "app/token_minter.h"
#include "catalog/story_codec.h"
#include "core/clock.h"
#include "core/event_codec.h"
#include "core/file_system.h"
#include "workload/generator.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed load [flags]\n"
    "       watershed load --verify TRUTH [--timeout 120s] [--windows-within D] [connection flags]\n\n"
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
    "  --partition-scheme S      with --partitions: the server's log-partition-scheme,\n"
    "                            aligned | legacy (aligned; else read from /v1/status)\n"
    "  --show-top SECONDS        print the top stories every SECONDS while running\n"
    "  --verify FILE             wait for lag 0, compare every story and window with FILE;\n"
    "                            exit 1 on any mismatch\n"
    "  --timeout D               how long --verify waits for lag 0 (120s)\n"
    "  --windows-within D        with --verify: compare only windows starting within D of the truth's\n"
    "                            newest window end (a server whose series-retention-5s and -1m are\n"
    "                            both >= D still holds them all); totals are always compared\n"
    "  --secret-file FILE        the server's HS256 secret: sign a token per viewer (and an\n"
    "                            admin token for status and --verify unless --token is given)\n"
    "  --issuer S --audience S   claims of those tokens (watershed, watershed)\n"
    "  --protobuf                send application/x-protobuf bodies instead of JSON\n"
    "  --viewer-batches          one viewer per request even without --secret-file (to compare\n"
    "                            auth on and off with the same request shape)\n"
    "  --no-catalog              do not register the workload's stories and their authors in the\n"
    "                            story catalogue first (POST /v1/stories, needs an admin token or\n"
    "                            auth off); without them creators read none of the stories\n"
    "Connection flags:\n";

const std::vector<std::string> kFlags = {"rate",
                                         "duration",
                                         "events",
                                         "batch",
                                         "connections",
                                         "seed",
                                         "stories",
                                         "authors",
                                         "viewers",
                                         "duplicate-batches",
                                         "late-fraction",
                                         "out-of-order-fraction",
                                         "event-time-rate",
                                         "truth",
                                         "partitions",
                                         "partition-scheme",
                                         "show-top",
                                         "verify",
                                         "timeout",
                                         "windows-within",
                                         "secret-file",
                                         "issuer",
                                         "audience",
                                         "protobuf!",
                                         "viewer-batches!",
                                         "no-catalog!",
                                         "help!"};

struct ServerPartitioning {
  uint32_t partitions = 0;
  PartitionScheme scheme = PartitionScheme::kAligned;
  std::map<std::pair<Region, uint32_t>, int64_t> watermarks;  // partitions that have one
};

// Partitions per region and their scheme, read from /v1/status (or `known`,
// then /healthz only); waits up to wait_ms for the server to come up.
// Answers other than 200 and 503 are final and said as they are.
Result<ServerPartitioning> DiscoverPartitions(HttpClient& client, bool sent_token, int64_t wait_ms,
                                              std::optional<ServerPartitioning> known) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  const std::string target = known ? "/healthz" : "/v1/status";
  for (;;) {
    auto r = client.Get(target);
    if (known && r.ok() && r->status == 200) return *known;
    if (r.ok() && r->status == 404 && !known)
      return Status::FailedPrecondition("GET /v1/status answered " + DescribeAnswer(*r, sent_token) +
                                        "\n(a gateway serves no /v1/status: give --partitions N)");
    if (r.ok() && r->status == 200) {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return Status::Internal("unreadable /v1/status");
      uint64_t most = 0;
      std::optional<PartitionScheme> scheme;
      std::map<std::pair<Region, uint32_t>, int64_t> watermarks;
      for (auto p : doc["partitions"].get_array()) {
        most = std::max(most, p["partition"].get_uint64().value_unsafe() + 1);
        std::string_view region_name;
        int64_t watermark = 0;
        if (p["region"].get(region_name) == simdjson::SUCCESS && p["watermark"].get(watermark) == simdjson::SUCCESS)
          if (auto region = ParseRegion(region_name))
            watermarks[{*region, static_cast<uint32_t>(p["partition"].get_uint64().value_unsafe())}] = watermark;
        // A server from before partition schemes reports none: legacy.
        std::string_view name = "legacy";
        if (p["partition_scheme"].get(name) != simdjson::SUCCESS) name = "legacy";
        auto s = ParsePartitionScheme(name);
        if (!s) return Status::Internal("/v1/status names an unknown partition scheme '" + std::string(name) + "'");
        if (scheme && *scheme != *s)
          return Status::FailedPrecondition(
              "the server's regions use different partition schemes; load cannot "
              "route its lanes and ground truth for both");
        scheme = s;
      }
      if (most == 0) return Status::Internal("server reports no partitions");
      return ServerPartitioning{static_cast<uint32_t>(most), *scheme, std::move(watermarks)};
    }
    if (r.ok() && r->status != 503 && r->status != 429)
      return Status::FailedPrecondition("GET " + target + " answered " + DescribeAnswer(*r, sent_token));
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Unavailable(r.ok() ? "GET " + target + " still answers " + DescribeAnswer(*r, sent_token)
                                        : "cannot reach the server: " + r.status().message());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// How far event time will advance over the run: the load starts that far in
// the past, so no event time leads the server's clock. The processor bounds
// its watermark by the log's append times (a future client clock must not
// close windows early), and the ground truth, which knows no append times,
// holds only while event times stay behind them. Without a rate or an event
// count the run's size is unknown: assume at most 2 M events/s.
int64_t EventTimeSpanMs(const LoadPlan& p) {
  double events = p.rate > 0 ? p.rate * static_cast<double>(p.duration_ms) / 1000 : 2e6 * p.duration_ms / 1000.0;
  if (p.duration_ms == INT64_MAX) events = 0;
  if (p.max_events != UINT64_MAX) events = events > 0 ? std::min(events, double(p.max_events)) : double(p.max_events);
  return static_cast<int64_t>(events * 1000 / p.workload.event_time_rate) + 1000;
}

// Registers stories 1..stories with the generator's authors in the story
// catalogue (POST /v1/stories, as the application would): authorship comes
// from there, never from the events, and --verify compares it.
Status RegisterStories(HttpClient& control, bool sent_token, const workload::WorkloadOptions& w) {
  for (uint64_t first = 1; first <= w.stories; first += catalog::kMaxStoriesPerBatch) {
    const uint64_t last = std::min(w.stories, first + catalog::kMaxStoriesPerBatch - 1);
    std::string body = "{\"stories\":[";
    for (uint64_t s = first; s <= last; ++s)
      body += (s == first ? "{\"story_id\":" : ",{\"story_id\":") + std::to_string(s) + ",\"author_id\":" +
              std::to_string(workload::AuthorOfStory(StoryId(s), w.authors).value) + "}";
    body += "]}";
    // Like the events, retried while the server restarts or is busy (a
    // re-sent batch writes the same authors again).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      auto r = control.Request("POST", "/v1/stories", body);
      if (r.ok() && r->status == 200) break;
      if (r.ok() && r->status != 503 && r->status != 429)
        return Status::FailedPrecondition("POST /v1/stories answered " + DescribeAnswer(*r, sent_token) +
                                          "\n(registering the workload's stories needs an admin token or auth off; "
                                          "--no-catalog skips it)");
      if (std::chrono::steady_clock::now() > deadline)
        return Status::Unavailable("cannot register the stories: " +
                                   (r.ok() ? DescribeAnswer(*r, sent_token) : r.status().message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return Status::Ok();
}

// The sending flags; the server's partitions are discovered later.
Result<LoadPlan> PlanFrom(const Flags& f) {
  LoadPlan p;
  workload::WorkloadOptions& w = p.workload;
  ASSIGN_OR_RETURN(p.rate, f.GetNumber<double>("rate", 10'000, 0));
  ASSIGN_OR_RETURN(p.batch, f.GetNumber<uint64_t>("batch", 100, 1, kMaxEventsPerBatch));
  ASSIGN_OR_RETURN(p.connections, f.GetNumber<uint64_t>("connections", 4, 1, 256));
  ASSIGN_OR_RETURN(w.seed, f.GetNumber<uint64_t>("seed", 1));
  ASSIGN_OR_RETURN(w.stories, f.GetNumber<uint64_t>("stories", 10'000, 1));
  ASSIGN_OR_RETURN(w.authors, f.GetNumber<uint64_t>("authors", 1'000, 1));
  ASSIGN_OR_RETURN(w.viewers, f.GetNumber<uint64_t>("viewers", 1'000'000, 1));
  ASSIGN_OR_RETURN(w.duplicate_batch_fraction, f.GetNumber<double>("duplicate-batches", 0.02, 0, 1));
  ASSIGN_OR_RETURN(w.late_fraction, f.GetNumber<double>("late-fraction", 0.005, 0, 1));
  ASSIGN_OR_RETURN(w.out_of_order_fraction, f.GetNumber<double>("out-of-order-fraction", 0.10, 0, 1));
  ASSIGN_OR_RETURN(p.max_events, f.GetNumber<uint64_t>("events", UINT64_MAX));
  p.duration_ms = f.Has("events") ? INT64_MAX : 30'000;
  if (f.Has("duration")) {
    ASSIGN_OR_RETURN(p.duration_ms, ParseDurationMs("--duration", f.Get("duration"), 1000));  // bare number: seconds
  }
  ASSIGN_OR_RETURN(double top_secs, f.GetNumber<double>("show-top", 0, 0, 86'400));
  p.show_top_ms = static_cast<int64_t>(top_secs * 1000);
  ASSIGN_OR_RETURN(w.event_time_rate, f.GetNumber<double>("event-time-rate", p.rate > 0 ? p.rate : 100'000, 1e-3));
  p.truth_path = f.Get("truth");
  p.protobuf = f.Has("protobuf");
  return p;
}

}  // namespace

int LoadCommand(const std::vector<std::string>& args) {
  auto parsed = Flags::Parse(args, WithClientFlags(kFlags));
  if (!parsed.ok()) return Fail("load", parsed.status().message() + "\n" + kHelp + kClientFlagsHelp, 2);
  const Flags& f = *parsed;
  if (!f.positional().empty())
    return Fail("load", "unexpected argument '" + f.positional()[0] + "'\n" + kHelp + kClientFlagsHelp, 2);
  if (f.Has("help")) {
    std::printf("%s%s", kHelp, kClientFlagsHelp);
    return 0;
  }
  auto client_options = ClientOptionsFrom(f);
  if (!client_options.ok()) return Fail("load", client_options.status().message(), 2);
  std::unique_ptr<TokenMinter> minter;
  std::string control_token = BearerTokenFrom(f);
  if (f.Has("secret-file")) {
    auto secret = ReadHs256Secret(FileSystem::Default(), f.Get("secret-file"));
    if (!secret.ok()) return Fail("load", secret.status().message(), 2);
    minter = std::make_unique<TokenMinter>(*secret, f.Get("issuer", "watershed"), f.Get("audience", "watershed"));
    if (control_token.empty()) {
      auto admin = minter->Mint(0, Region::kUs, auth::RoleSet(static_cast<uint8_t>(auth::Role::kAdmin)));
      if (!admin.ok()) return Fail("load", "cannot sign with --secret-file: " + admin.status().message(), 2);
      control_token = *admin;
    }
  }
  auto control_client = NewClient(*client_options, control_token);
  if (!control_client.ok()) return Fail("load", control_client.status().message(), 2);
  HttpClient& control = **control_client;
  int64_t timeout_ms = 120'000;
  if (f.Has("timeout")) {
    auto t = ParseDurationMs("--timeout", f.Get("timeout"), 1000);  // a bare number is seconds here
    if (!t.ok()) return Fail("load", t.status().message(), 2);
    timeout_ms = *t;
  }
  int64_t windows_within_ms = -1;
  if (f.Has("windows-within")) {
    auto w = ParseDurationMs("--windows-within", f.Get("windows-within"), 1000);
    if (!w.ok()) return Fail("load", w.status().message(), 2);
    windows_within_ms = *w;
  }
  if (f.Has("verify"))
    return VerifyAgainstTruth(f.Get("verify"), control, !control_token.empty(), timeout_ms, windows_within_ms);

  auto plan = PlanFrom(f);
  if (!plan.ok()) return Fail("load", plan.status().message(), 2);
  plan->workload.base_time_ms = watershed::Clock::Real()->NowMs() - EventTimeSpanMs(*plan);
  plan->per_viewer = minter != nullptr || f.Has("viewer-batches");
  std::optional<ServerPartitioning> known_partitions;
  if (f.Has("partition-scheme") && !f.Has("partitions"))
    return Fail("load", "--partition-scheme goes with --partitions (else both are read from /v1/status)", 2);
  if (f.Has("partitions")) {
    auto n = f.GetNumber<uint32_t>("partitions", 0, 1, 1024);
    if (!n.ok()) return Fail("load", n.status().message(), 2);
    known_partitions = ServerPartitioning{*n, PartitionScheme::kAligned, {}};
    if (f.Has("partition-scheme")) {
      auto scheme = ParsePartitionScheme(f.Get("partition-scheme"));
      if (!scheme)
        return Fail("load", "--partition-scheme: '" + f.Get("partition-scheme") + "' is not aligned or legacy", 2);
      known_partitions->scheme = *scheme;
    }
  }
  auto partitions = DiscoverPartitions(control, !control_token.empty(), 30'000, known_partitions);
  if (!partitions.ok()) return Fail("load", partitions.status().message());
  plan->partitions = partitions->partitions;
  plan->partition_scheme = partitions->scheme;
  plan->start_watermarks = partitions->watermarks;
  if (!f.Has("no-catalog"))
    if (Status s = RegisterStories(control, !control_token.empty(), plan->workload); !s.ok())
      return Fail("load", s.message());
  return RunLoad(*plan, *client_options, minter.get(), control_token);
}

}  // namespace watershed::app
