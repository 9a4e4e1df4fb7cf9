// `watershed keys create|rotate|list|status|retire|rewrap|data-key`: the local
// key provider's key-encryption keys and what they wrap (src/keys,
// docs/encryption.md).

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
#include "lake/file_keys.h"
#include "stream/checkpoint.h"
#include "stream/cold_store.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed keys create --region R [--keys-dir DIR | --data-dir DIR]\n"
    "       watershed keys rotate --region R [...]\n"
    "       watershed keys list [--region R] [...]\n"
    "       watershed keys status --region R [--checkpoint-dir DIR] [--lake-root DIR] [...]\n"
    "       watershed keys retire --region R --key ID [--force] [...]\n"
    "       watershed keys rewrap --region R [--lake-root DIR] [...]\n"
    "       watershed keys data-key --region R FILE\n\n"
    "Key-encryption keys (KEKs) of the local key provider, one directory per region:\n"
    "<keys-dir>/<region>/<key-id>.key (32 random bytes as hex, mode 0600) and <region>/current.\n"
    "create adds a KEK (current when the region has none); rotate adds one and makes it current,\n"
    "so new data keys are wrapped under it while older ones still unwrap; list shows them.\n"
    "status lists each key with the files whose data keys it wraps (checkpoints, cold stores,\n"
    "lake data files); rewrap re-wraps every lake data file's key under the current KEK (the\n"
    "<file>.key sidecars change, the data files do not); retire moves a key to <region>/retired/ —\n"
    "refused for the current key, for one still needed, and when no checkpoint or lake file was\n"
    "found to prove it unused (--force: retire anyway). data-key prints an encrypted lake file's\n"
    "data key as base64, for DuckDB: PRAGMA add_parquet_key('k', '<key>'); SELECT * FROM\n"
    "read_parquet('FILE', encryption_config={footer_key: 'k'}) (docs/encryption.md).\n"
    "After a rotation, running processors re-wrap checkpoints and cold stores at their next checkpoint.\n"
    "keys-dir defaults to <data-dir>/keys, checkpoint-dir to <data-dir>/checkpoints, lake-root to\n"
    "<data-dir>/lake; with key-command set, the command wraps and unwraps instead of the key files.\n"
    "Also accepts --config FILE. Encrypted with these keys (encryption = on): checkpoints, cold stores\n"
    "and lake data files.\n";

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

// Which files' data keys each key id wraps: a region's checkpoints, the
// cold stores they reference, and its lake data files (their sidecars).
// *evidence counts the checkpoints and lake files read: `retire` refuses to
// act on a scan that found none (a wrong --data-dir must not look like
// "unused").
Result<std::map<std::string, std::vector<std::string>>> Dependents(const std::string& checkpoint_dir,
                                                                   const std::string& lake_root,
                                                                   const std::string& region, const keys::KeyRing* ring,
                                                                   size_t* checkpoints, size_t* lake_files) {
  std::map<std::string, std::vector<std::string>> out;
  *checkpoints = *lake_files = 0;
  const auto r = ParseRegion(region);
  const std::string dir = JoinPath(checkpoint_dir, region);
  if (r && FileSystem::Default()->FileExists(dir)) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, FileSystem::Default()->ListDir(dir));
    stream::CheckpointStore store(FileSystem::Default(), checkpoint_dir, ring);
    for (const std::string& name : names) {
      if (name.size() < 7 || name[0] != 'p' || !name.ends_with(".ckpt")) continue;
      auto partition = ParseNumber<uint32_t>(name, std::string_view(name).substr(1, name.size() - 6));
      if (!partition.ok()) continue;
      auto raw = ReadWholeFile(FileSystem::Default(), JoinPath(dir, name));  // read once, decoded below
      if (!raw.ok()) return raw.status();
      ++*checkpoints;
      if (!keys::IsSealed(*raw)) continue;
      ASSIGN_OR_RETURN(keys::WrappedKey k, keys::SealedKey(*raw));
      out[k.key_id].push_back("checkpoint " + JoinPath(dir, name));
      ASSIGN_OR_RETURN(stream::Checkpoint checkpoint, store.Decode(*r, *partition, std::move(*raw)));
      if (auto cold = stream::ColdStoreDataKey(checkpoint.cold))
        out[cold->key_id].push_back("cold store of " + JoinPath(dir, name));
    }
  }
  ASSIGN_OR_RETURN(std::vector<lake::LakeFileKey> lake, lake::ListSidecars(FileSystem::Default(),
                                                                           JoinPath(lake_root, region)));
  for (const lake::LakeFileKey& f : lake) out[f.wrapped.key_id].push_back("lake file " + f.data_file);
  *lake_files = lake.size();
  return out;
}

// `keys rewrap`: every lake data file's key of the region under the current KEK.
int Rewrap(const std::string& lake_root, const std::string& region, keys::KeyProvider& provider) {
  auto files = lake::ListSidecars(FileSystem::Default(), JoinPath(lake_root, region));
  if (!files.ok()) return Fail("keys", files.status().message());
  size_t changed = 0;
  std::string current;
  for (const lake::LakeFileKey& f : *files) {
    auto id = lake::RewrapSidecar(FileSystem::Default(), provider, f.data_file);
    if (!id.ok()) return Fail("keys", "rewrap " + f.data_file + ": " + id.status().message());
    changed += *id != f.wrapped.key_id;
    current = *id;
  }
  std::printf("%s: %zu lake files under %s, %zu re-wrapped%s%s\n", region.c_str(), files->size(),
              JoinPath(lake_root, region).c_str(), changed, current.empty() ? "" : " under key ", current.c_str());
  return 0;
}

// `keys data-key FILE`: the file's data key as base64 (DuckDB's add_parquet_key).
int DataKey(const std::string& file, keys::KeyProvider& provider) {
  if (!FileSystem::Default()->FileExists(file)) return Fail("keys", "no file " + file);
  auto file_keys = lake::NewSidecarFileKeys([&provider](const std::string&) { return &provider; });
  auto key = file_keys->KeyOf(FileSystem::Default(), file);
  if (!key.ok()) return Fail("keys", key.status().message());
  std::printf("%s\n", keys::Base64(key->view()).c_str());
  return 0;
}

}  // namespace

int KeysCommand(const std::vector<std::string>& args) {
  const std::vector<std::string> known = {"region",      "keys-dir", "help!",     "config", "data-dir", "key",
                                          "checkpoint-dir", "key-command", "force!", "lake-root"};
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return Fail("keys", parsed.status().message() + "\n\n" + kHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::vector<std::string>& pos = f.positional();
  const std::string action = pos.empty() ? "" : pos[0];
  const std::vector<std::string> actions = {"create", "rotate", "list", "status", "retire", "rewrap", "data-key"};
  if (std::find(actions.begin(), actions.end(), action) == actions.end() ||
      pos.size() != (action == "data-key" ? 2u : 1u))
    return Fail("keys",
                "expected create, rotate, list, status, retire, rewrap or data-key FILE\n\n" + std::string(kHelp), 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : f.values())
    if (key == "data-dir" || key == "config" || key == "checkpoint-dir" || key == "key-command" || key == "lake-root")
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
  std::string lake_root = config->Get("lake-root");
  if (lake_root.empty()) lake_root = JoinPath(config->Get("data-dir"), "lake");
  if (action == "rewrap" || action == "data-key") {
    auto ring = keys::KeyRing::Open(keys_dir, config->Get("key-command"), {region});
    if (!ring.ok()) return Fail("keys", ring.status().message());
    keys::KeyProvider& provider = *(*ring)->For(region);
    return action == "rewrap" ? Rewrap(lake_root, region, provider) : DataKey(pos[1], provider);
  }
  if (action == "status" || action == "retire") {
    std::string checkpoint_dir = config->Get("checkpoint-dir");
    if (checkpoint_dir.empty()) checkpoint_dir = JoinPath(config->Get("data-dir"), "checkpoints");
    auto ring = keys::KeyRing::Open(keys_dir, config->Get("key-command"), {region});
    if (!ring.ok()) return Fail("keys", ring.status().message());
    size_t checkpoints = 0, lake_files = 0;
    auto deps = Dependents(checkpoint_dir, lake_root, region, ring->get(), &checkpoints, &lake_files);
    if (!deps.ok()) return Fail("keys", deps.status().message());
    std::printf("%s: %zu checkpoints read in %s, %zu encrypted lake files in %s\n", region.c_str(), checkpoints,
                JoinPath(checkpoint_dir, region).c_str(), lake_files, JoinPath(lake_root, region).c_str());
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
    if (checkpoints == 0 && lake_files == 0 && !f.Has("force"))
      return Fail("keys", "no checkpoint of " + region + " in " + JoinPath(checkpoint_dir, region) +
                              " and no encrypted lake file in " + JoinPath(lake_root, region) +
                              ": nothing proves the key unused (wrong --data-dir, --checkpoint-dir or --lake-root?); "
                              "--force retires it anyway");
    if (auto it = deps->find(id); it != deps->end())
      return Fail("keys", id + " still wraps the data keys of " + std::to_string(it->second.size()) + " files (" +
                              it->second.front() + (it->second.size() > 1 ? ", ..." : "") +
                              "); running processors re-wrap checkpoints at their next checkpoint after a "
                              "rotation, `watershed keys rewrap` re-wraps lake files");
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
