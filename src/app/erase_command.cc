// `watershed erase`: erasure of a viewer (GDPR art. 17; app/erasure.h,
// docs/governance.md "Erasure").

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/config.h"
#include "app/erasure.h"
#include "app/flags.h"
#include "app/governance_runtime.h"
#include "app/lake_keys.h"
#include "app/recs_runtime.h"
#include "app/serve_settings.h"
#include "core/clock.h"
#include "core/file_system.h"
#include "gov/audit_log.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed erase --viewer ID [flags]    record an erasure request, run it, print its receipt\n"
    "       watershed erase --resume [flags]       finish every request a crash or a stop left unfinished\n"
    "       watershed erase --list [flags]         every request and the steps it has done\n"
    "       watershed erase --verify ID [flags]    every place the viewer may remain, with its expiry\n\n"
    "Removes the viewer's rows from every lake table that has a viewer_id column, in every region: the files\n"
    "holding them are rewritten without them, one snapshot replaces them, every older snapshot that still lists\n"
    "one is expired and the old files are deleted; then the recommendations' feature store forgets the viewer\n"
    "and every exposure log holding them is rewritten without them (an embedded store and the logs only while\n"
    "no server owns <data-dir>/recs), and, with the server stopped, processor checkpoints and cold stores lose\n"
    "the id. The request is a file under <data-dir>/erasures, updated\n"
    "after each step: a run killed at any point resumes with --resume (or the same --viewer).\n"
    "  --record-only   record the request and print the receipt; run nothing\n"
    "  --json          the receipt as JSON\n"
    "Also accepts --config FILE, --data-dir, --lake-root, --checkpoint-dir, --regions, --log-retention, ...\n"
    "as `serve` does; with a governance-file every erasure is audited.\n"
    "Exit codes: 0 done (--verify: every occurrence has an expiry), 1 failed (--verify: one has none), 2 usage.\n";

// The erasure's audit record (with a governance-file). Fail closed like every audited path: when it cannot be
// written the command prints no receipt and exits 1.
Status Audit(gov::AuditLog* audit, const std::string& region, uint64_t viewer, const Status& s, int64_t start_us) {
  if (!audit) return Status::Ok();
  gov::AuditRecord r;
  r.time_us = start_us;
  r.roles = "admin";
  r.region = region;
  r.interface = "cli";
  r.sql = "ERASE VIEWER " + std::to_string(viewer);
  r.tables = "erasure";
  r.verdict = s.ok() ? "allowed" : "failed";
  r.reason = s.ok() ? "" : s.ToString();
  r.duration_ms = (gov::NowUs() - start_us) / 1000;
  return audit->Append(r);
}

}  // namespace

int EraseCommand(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("%s", kHelp);
      return 0;
    }
  const std::vector<std::string> own = {"viewer", "verify", "resume!", "list!", "record-only!", "json!"};
  std::vector<std::string> known = own;
  known.push_back("config");
  for (const ConfigKey& k : ServeConfigKeys()) known.push_back(k.name);
  auto flags = Flags::Parse(args, known);
  if (!flags.ok()) return Fail("erase", flags.status().message() + "\n\n" + kHelp, 2);
  if (!flags->positional().empty()) return Fail("erase", std::string("no arguments expected\n\n") + kHelp, 2);
  const int modes = flags->Has("viewer") + flags->Has("verify") + flags->Has("resume") + flags->Has("list");
  if (modes != 1) return Fail("erase", std::string("one of --viewer, --verify, --resume, --list\n\n") + kHelp, 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : flags->values())
    if (std::find(own.begin(), own.end(), key) == own.end() &&
        std::find(own.begin(), own.end(), key + "!") == own.end())
      settings.push_back("--" + key + "=" + value);
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("erase", config.status().message(), 2);
  auto serve = ParseServeSettings(*config);
  if (!serve.ok()) return Fail("erase", serve.status().message(), 2);
  ErasurePaths paths = ErasurePathsOf(*serve);
  std::unique_ptr<keys::KeyRing> ring;  // sealed checkpoints and cold stores
  if (serve->encryption.on) {
    // The regions with keys (as for the lake): a sealed checkpoint of one without is a clear error when read.
    std::vector<std::string> regions;
    for (Region r : serve->regions)
      if (keys::KeyRing::Open(serve->encryption.keys_dir, serve->encryption.key_command, {std::string(RegionName(r))})
              .ok())
        regions.emplace_back(RegionName(r));
    if (!regions.empty()) {
      auto opened = keys::KeyRing::Open(serve->encryption.keys_dir, serve->encryption.key_command, regions);
      if (!opened.ok()) return Fail("erase", opened.status().message(), 1);
      ring = std::move(opened).value();
      paths.checkpoint_keys = ring.get();
    }
  }
  // A Redis feature store is erased (and scanned) directly: its script is atomic against the server's writes.
  std::unique_ptr<recs::RedisFeatureStore> redis_features;
  if (!flags->Has("list") && (serve->recs_features.kind == RecsFeatureSettings::Kind::kRedis ||
                              serve->recs_features.kind == RecsFeatureSettings::Kind::kRedisCluster)) {
    recs::FeatureStoreConfig defaults;  // the definitions `serve` uses (Open checks the store's against them)
    auto opened = OpenRedisFeatureStore(serve->recs_features, defaults);
    if (!opened.ok()) return Fail("erase", opened.status().message(), 1);
    redis_features = std::move(opened).value();
    recs::RedisFeatureStore* store = redis_features.get();
    paths.feature_store = FeatureStoreHandle{"recs-features " + serve->recs_features.spec,
                                             [store](uint64_t viewer) { return store->EraseViewer(viewer); },
                                             [store](uint64_t viewer) { return store->HoldsViewer(viewer); }};
  }
  FileSystem* fs = FileSystem::Default();
  auto lake_keys = UseLakeKeysOf(*config, paths.lake_root);  // encryption = on: files read and written with keys
  if (!lake_keys.ok()) return Fail("erase", lake_keys.status().message(), 1);
  const int64_t now_ms = Clock::Real()->NowMs();
  const bool json = flags->Has("json");

  if (flags->Has("verify")) {
    auto viewer = ParseNumber<uint64_t>("--verify", flags->Get("verify"), 1, kMaxErasableViewer);
    if (!viewer.ok()) return Fail("erase", viewer.status().message(), 2);
    auto found = FindViewer(fs, paths, *viewer, now_ms);
    if (!found.ok()) return Fail("erase", found.status().message(), 1);
    bool unbounded = false;
    for (const Occurrence& o : *found) {
      unbounded = unbounded || !o.expires_ms;
      std::printf("%s %s rows=%s expires=%s %s\n", o.store.c_str(), o.path.c_str(),
                  o.rows < 0 ? "unknown" : std::to_string(o.rows).c_str(),
                  o.expires_ms ? UtcTime(*o.expires_ms).c_str() : "never", o.note.c_str());
    }
    std::printf("viewer %llu: %zu occurrences, %s\n", static_cast<unsigned long long>(*viewer), found->size(),
                unbounded ? "some without an expiry" : "each with an expiry");
    return unbounded ? 1 : 0;
  }

  ErasureStore store(fs, paths.data_dir);
  if (flags->Has("list")) {
    auto all = store.List();
    if (!all.ok()) return Fail("erase", all.status().message(), 1);
    for (const ErasureRequest& r : *all) {
      std::printf("%s viewer %llu requested %s by %s: %s (%zu steps done)\n", r.id.c_str(),
                  static_cast<unsigned long long>(r.viewer), UtcTime(r.requested_ms).c_str(), r.requested_by.c_str(),
                  r.complete ? "complete" : "unfinished", r.done.size());
      if (r.complete) continue;
      // What is not erased yet (e.g. processor state, left by a running server).
      for (const auto& rem : MakeReceipt(fs, paths, r, now_ms).remains)
        if (!rem.expires_ms) std::printf("  remains %s: %s\n", rem.store.c_str(), rem.what.c_str());
    }
    return 0;
  }

  std::unique_ptr<GovernanceRuntime> governance;
  const std::string region(RegionName(paths.regions.empty() ? Region::kUs : paths.regions[0]));
  if (const std::string policy = config->Get("governance-file"); !policy.empty()) {
    auto g = GovernanceRuntime::Start(fs, policy, paths.data_dir, paths.lake_root, region, /*flusher=*/false);
    if (!g.ok()) return Fail("erase", g.status().message(), 2);
    governance = std::move(*g);
  }
  gov::AuditLog* audit = governance ? governance->audit() : nullptr;

  std::vector<ErasureRequest> todo;
  if (flags->Has("viewer")) {
    auto viewer = ParseNumber<uint64_t>("--viewer", flags->Get("viewer"), 1, kMaxErasableViewer);
    if (!viewer.ok()) return Fail("erase", viewer.status().message(), 2);
    auto r = store.Create(*viewer, "cli", now_ms);
    if (!r.ok()) {
      if (Status a = Audit(audit, region, *viewer, r.status(), gov::NowUs()); !a.ok())
        return Fail("erase", "the refusal's audit record could not be written: " + a.ToString(), 1);
      return Fail("erase", r.status().message(), 1);
    }
    todo.push_back(*r);
  } else {
    auto all = store.List();
    if (!all.ok()) return Fail("erase", all.status().message(), 1);
    for (const ErasureRequest& r : *all)
      if (!r.complete) todo.push_back(r);
  }
  int rc = 0;
  for (ErasureRequest& r : todo) {
    const int64_t start_us = gov::NowUs();
    Status s;
    if (!flags->Has("record-only"))
      s = RunErasure(fs, paths, &store, &r, [&](const std::string& line) {
        std::fprintf(stderr, "erase %s: %s\n", r.id.c_str(), line.c_str());
      });
    if (Status a = Audit(audit, region, r.viewer, s, start_us); !a.ok()) {
      Fail("erase", r.id + ": its audit record could not be written, so no receipt: " + a.ToString());
      rc = 1;
      continue;
    }
    const ErasureReceipt receipt = MakeReceipt(fs, paths, r, Clock::Real()->NowMs());
    std::printf("%s", json ? (ReceiptJson(receipt) + "\n").c_str() : ReceiptText(receipt).c_str());
    if (!s.ok()) {
      Fail("erase", r.id + ": " + s.ToString() + " (rerun `watershed erase --resume` to finish it)");
      rc = 1;
    }
  }
  if (governance && audit && audit->FlushDue(gov::NowUs())) {
    Status f = audit->Flush();
    if (!f.ok()) std::fprintf(stderr, "watershed erase: audit flush: %s\n", f.ToString().c_str());
  }
  return rc;
}

}  // namespace watershed::app
