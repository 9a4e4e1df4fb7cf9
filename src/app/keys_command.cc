// `watershed keys create|rotate|list`: the local key provider's key-encryption
// keys (src/keys, docs/encryption.md).

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "core/file_system.h"
#include "keys/envelope.h"
#include "keys/key_provider.h"
#include "keys/key_ring.h"
#include "log/segment_crypto.h"
#include "stream/checkpoint.h"
#include "stream/cold_store.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed keys create --region R [--keys-dir DIR | --data-dir DIR]\n"
    "       watershed keys rotate --region R [...]\n"
    "       watershed keys list [--region R] [...]\n"
    "       watershed keys status --region R [--checkpoint-dir DIR] [...]\n"
    "       watershed keys retire --region R --key ID [--force] [...]\n"
    "       watershed keys rewrap --region R [...]\n\n"
    "Key-encryption keys (KEKs) of the local key provider, one directory per region:\n"
    "<keys-dir>/<region>/<key-id>.key (32 random bytes as hex, mode 0600) and <region>/current.\n"
    "create adds a KEK (current when the region has none); rotate adds one and makes it current,\n"
    "so new data keys are wrapped under it while older ones still unwrap; list shows them.\n"
    "status lists each key with the files whose data keys it wraps (checkpoints, cold stores,\n"
    "log segments); rewrap re-wraps the data keys of the region's log segments under the current\n"
    "key (the segments are not rewritten);\n"
    "retire moves a key to <region>/retired/ — refused for the current key, for one still needed,\n"
    "and when no checkpoint was found to prove it unused (--force: retire anyway).\n"
    "After a rotation, running processors re-wrap under the new key at their next checkpoint.\n"
    "keys-dir defaults to <data-dir>/keys, checkpoint-dir to <data-dir>/checkpoints; with\n"
    "key-command set, status asks that command instead of the key files. Also accepts --config FILE.\n"
    "Encrypted with these keys today: log segments, checkpoints and cold stores (encryption = on); not the lake.\n";

int List(const std::string& keys_dir, const std::string& region) {
  std::vector<std::string> regions;
  if (!region.empty()) {
    regions.push_back(region);
  } else if (FileSystem::Default()->FileExists(keys_dir)) {
    auto names = FileSystem::Default()->ListDir(keys_dir);
    if (!names.ok()) return Fail("keys", names.status().message());
    for (const std::string& n : *names)
      if (keys::CheckRegionName(n).ok()) regions.push_back(n);
    std::sort(regions.begin(), regions.end());
  }
  for (const std::string& r : regions) {
    auto keys = keys::LocalKeyStore(keys_dir, r).List();
    if (!keys.ok()) return Fail("keys", keys.status().message());
    for (const auto& k : *keys) std::printf("%s\t%s%s\n", r.c_str(), k.id.c_str(), k.current ? "\tcurrent" : "");
  }
  return 0;
}

// Which files' data keys each key id wraps: a region's checkpoints and
// the cold stores they reference.
// *checkpoints counts the checkpoints read: `retire` refuses to act on a
// scan that found none (a wrong --data-dir must not look like "unused").
Result<std::map<std::string, std::vector<std::string>>> Dependents(const std::string& checkpoint_dir,
                                                                   const std::string& region, const keys::KeyRing* ring,
                                                                   size_t* checkpoints) {
  std::map<std::string, std::vector<std::string>> out;
  *checkpoints = 0;
  const auto r = ParseRegion(region);
  const std::string dir = JoinPath(checkpoint_dir, region);
  if (!r || !FileSystem::Default()->FileExists(dir)) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> names, FileSystem::Default()->ListDir(dir));
  stream::CheckpointStore store(FileSystem::Default(), checkpoint_dir, ring);
  for (const std::string& name : names) {
    uint32_t partition = 0;
    if (name.size() < 7 || name[0] != 'p' || !name.ends_with(".ckpt")) continue;
    auto p = ParseNumber<uint32_t>(name, std::string_view(name).substr(1, name.size() - 6));
    if (!p.ok()) continue;
    partition = *p;
    auto raw = ReadWholeFile(FileSystem::Default(), JoinPath(dir, name));
    if (!raw.ok()) return raw.status();
    ++*checkpoints;
    if (!keys::IsSealed(*raw)) continue;
    ASSIGN_OR_RETURN(keys::WrappedKey k, keys::SealedKey(*raw));
    out[k.key_id].push_back("checkpoint " + JoinPath(dir, name));
    ASSIGN_OR_RETURN(auto checkpoint, store.Read(*r, partition));
    if (!checkpoint) continue;
    if (auto cold = stream::ColdStoreDataKey(checkpoint->cold))
      out[cold->key_id].push_back("cold store of " + JoinPath(dir, name));
  }
  return out;
}

// The embedded log of `region` in the data dir (the server's <data-dir>/log/<region>).
std::string RegionLogDir(const Config& config, const std::string& region) {
  return JoinPath(JoinPath(config.Get("data-dir"), "log"), region);
}

// Adds the log segments whose data keys each key id wraps to *deps; *segments
// counts the key files read.
Status AddLogSegments(const std::string& log_dir, std::map<std::string, std::vector<std::string>>* deps,
                      size_t* segments) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, log::ListSegmentKeyFiles(FileSystem::Default(), log_dir));
  *segments = 0;
  for (const std::string& file : files) {
    const std::string segment = log::SegmentPathOfKeyFile(file);
    auto key = log::ReadSegmentKey(FileSystem::Default(), segment);
    if (!key.ok() && key.status().code() == StatusCode::kNotFound) continue;  // retention deleted it meanwhile
    if (!key.ok()) return key.status();
    ++*segments;
    (*deps)[key->key_id].push_back("log segment " + segment);
  }
  return Status::Ok();
}

// `keys rewrap`: every log segment key file of the region, under the current key.
int RewrapLog(const std::string& log_dir, const std::string& region, keys::KeyProvider& provider) {
  auto files = log::ListSegmentKeyFiles(FileSystem::Default(), log_dir);
  if (!files.ok()) return Fail("keys", files.status().message());
  size_t done = 0;
  std::string now;
  for (const std::string& file : *files) {
    auto id = log::RewrapSegmentKey(FileSystem::Default(), provider, file);
    if (!id.ok() && !FileSystem::Default()->FileExists(file)) continue;  // retention deleted it meanwhile
    if (!id.ok()) return Fail("keys", id.status().message());
    now = *id, ++done;
  }
  std::printf("%s: re-wrapped the data keys of %zu log segments in %s%s\n", region.c_str(), done, log_dir.c_str(),
              done ? (" under " + now).c_str() : "");
  return 0;
}

}  // namespace

int KeysCommand(const std::vector<std::string>& args) {
  const std::vector<std::string> known = {"region", "keys-dir",       "help!",       "config", "data-dir",
                                          "key",    "checkpoint-dir", "key-command", "force!"};
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return Fail("keys", parsed.status().message() + "\n\n" + kHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::vector<std::string>& pos = f.positional();
  const std::string action = pos.size() == 1 ? pos[0] : "";
  if (action != "create" && action != "rotate" && action != "list" && action != "status" && action != "retire" &&
      action != "rewrap")
    return Fail("keys", "expected create, rotate, list, status, retire or rewrap\n\n" + std::string(kHelp), 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : f.values())
    if (key == "data-dir" || key == "config" || key == "checkpoint-dir" || key == "key-command")
      settings.push_back("--" + key + "=" + value);
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("keys", config.status().message(), 2);
  const std::string keys_dir = f.Has("keys-dir") ? f.Get("keys-dir") : JoinPath(config->Get("data-dir"), "keys");
  const std::string region = f.Get("region");
  if (!region.empty()) {
    if (Status s = keys::CheckRegionName(region); !s.ok()) return Fail("keys", s.message(), 2);
  } else if (action != "list") {
    return Fail("keys", action + " needs --region", 2);
  }
  if (action == "list") return List(keys_dir, region);
  keys::LocalKeyStore store(keys_dir, region);
  if (action == "rewrap") {
    auto ring = keys::KeyRing::Open(keys_dir, config->Get("key-command"), {region});
    if (!ring.ok()) return Fail("keys", ring.status().message());
    return RewrapLog(RegionLogDir(*config, region), region, *(*ring)->For(region));
  }
  if (action == "status" || action == "retire") {
    std::string checkpoint_dir = config->Get("checkpoint-dir");
    if (checkpoint_dir.empty()) checkpoint_dir = JoinPath(config->Get("data-dir"), "checkpoints");
    auto ring = keys::KeyRing::Open(keys_dir, config->Get("key-command"), {region});
    if (!ring.ok()) return Fail("keys", ring.status().message());
    size_t checkpoints = 0;
    auto deps = Dependents(checkpoint_dir, region, ring->get(), &checkpoints);
    if (!deps.ok()) return Fail("keys", deps.status().message());
    std::printf("%s: %zu checkpoints read in %s\n", region.c_str(), checkpoints,
                JoinPath(checkpoint_dir, region).c_str());
    size_t segments = 0;
    if (Status s = AddLogSegments(RegionLogDir(*config, region), &*deps, &segments); !s.ok())
      return Fail("keys", s.message());
    if (segments > 0)
      std::printf("%s: %zu sealed log segments in %s\n", region.c_str(), segments,
                  RegionLogDir(*config, region).c_str());
    if (action == "status") {
      auto listed = store.List();
      if (!listed.ok()) return Fail("keys", listed.status().message());
      std::set<std::string> shown;
      for (const auto& k : *listed) {
        const auto it = deps->find(k.id);
        const size_t n = it == deps->end() ? 0 : it->second.size();
        std::printf("%s\t%s%s\t%zu files\n", region.c_str(), k.id.c_str(), k.current ? " (current)" : "", n);
        if (it != deps->end())
          for (const std::string& f : it->second) std::printf("  %s\n", f.c_str());
        shown.insert(k.id);
      }
      for (const auto& [id, files] : *deps)  // keys of another provider (key-command) or missing files
        if (!shown.count(id))
          std::printf("%s\t%s (not in %s)\t%zu files\n", region.c_str(), id.c_str(), store.dir().c_str(), files.size());
      return 0;
    }
    const std::string id = f.Get("key");
    if (id.empty()) return Fail("keys", "retire needs --key ID", 2);
    auto current = store.Current();
    if (current.ok() && *current == id) return Fail("keys", id + " is the current key of " + region + ": rotate first");
    if (checkpoints == 0 && !f.Has("force"))
      return Fail("keys", "no checkpoint of " + region + " in " + JoinPath(checkpoint_dir, region) +
                              ": nothing proves the key unused (wrong --data-dir or --checkpoint-dir?); "
                              "--force retires it anyway");
    if (auto it = deps->find(id); it != deps->end())
      return Fail("keys", id + " still wraps the data keys of " + std::to_string(it->second.size()) + " files (" +
                              it->second.front() + (it->second.size() > 1 ? ", ..." : "") +
                              "); after a rotation, running processors re-wrap checkpoints at their next "
                              "checkpoint and `watershed keys rewrap` re-wraps log segments");
    if (Status s = store.Retire(id); !s.ok()) return Fail("keys", s.message());
    std::printf("%s: retired key %s (moved to %s/retired/)\n", region.c_str(), id.c_str(), store.dir().c_str());
    return 0;
  }
  auto id = store.Create(action == "rotate");
  if (!id.ok()) return Fail("keys", id.status().message());
  auto current = store.Current();
  std::printf("%s: created key %s in %s%s\n", region.c_str(), id->c_str(), store.dir().c_str(),
              current.ok() && *current == *id ? " (current)" : "");
  return 0;
}

}  // namespace watershed::app
