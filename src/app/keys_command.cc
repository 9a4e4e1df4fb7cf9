// `watershed keys create|rotate|list|status|retire|rewrap|data-key`: the local
// key provider's key-encryption keys and what they wrap (src/keys,
// docs/encryption.md).

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "app/admin_audit.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "core/file_system.h"
#include "keys/envelope.h"
#include "keys/key_provider.h"
#include "keys/key_ring.h"
#include "lake/file_keys.h"
#include "log/segment_crypto.h"
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
    "log segments, lake data files); rewrap re-wraps the data keys of the region's log segments\n"
    "and lake data files under the current key (their <file>.key sidecars change, the files do not);\n"
    "retire moves a key to <region>/retired/ — refused for the current key, for one still needed,\n"
    "and when no checkpoint or lake file was found to prove it unused (--force: retire anyway).\n"
    "data-key prints an encrypted lake file's data key as base64, for DuckDB: PRAGMA\n"
    "add_parquet_key('k', '<key>'); SELECT * FROM read_parquet('FILE', encryption_config =\n"
    "{footer_key: 'k'}) (docs/encryption.md).\n"
    "After a rotation, running processors re-wrap under the new key at their next checkpoint.\n"
    "keys-dir defaults to <data-dir>/keys, checkpoint-dir to <data-dir>/checkpoints, lake-root to\n"
    "<data-dir>/lake; with key-command set, the command wraps and unwraps instead of the key files.\n"
    "Also accepts --config FILE. Encrypted with these keys (encryption = on): log segments,\n"
    "checkpoints, cold stores and lake data files. With --governance-file (or governance-file in\n"
    "the config) every action but list and status is audited in the region's audit log before it runs.\n";

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
  return out;
}

// The region's lake under the lake root (<lake-root>/<region>).
std::string RegionLakeDir(const Config& config, const std::string& region) {
  const std::string root =
      config.Get("lake-root").empty() ? JoinPath(config.Get("data-dir"), "lake") : config.Get("lake-root");
  return JoinPath(root, region);
}

// Adds the encrypted lake data files (their key sidecars) whose data keys
// each key id wraps to *deps; *files counts them.
Status AddLakeFiles(const std::string& lake_dir, std::map<std::string, std::vector<std::string>>* deps, size_t* files) {
  ASSIGN_OR_RETURN(std::vector<lake::LakeFileKey> lake, lake::ListSidecars(FileSystem::Default(), lake_dir));
  for (const lake::LakeFileKey& f : lake) (*deps)[f.wrapped.key_id].push_back("lake file " + f.data_file);
  *files = lake.size();
  return Status::Ok();
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
// `keys rewrap` of one store (log segments or lake files): each file's data key re-wrapped under the provider's
// current key by `rewrap`, which returns that key's id. A file deleted meanwhile (retention, maintenance) is skipped.
int RewrapEach(const std::vector<std::string>& files,
               const std::function<Result<std::string>(const std::string&)>& rewrap, const std::string& what,
               const std::string& region, const std::string& dir) {
  size_t done = 0;
  std::string now;
  for (const std::string& file : files) {
    auto id = rewrap(file);
    if (!id.ok() && !FileSystem::Default()->FileExists(file)) continue;
    if (!id.ok()) return Fail("keys", "rewrap " + file + ": " + id.status().message());
    now = *id, ++done;
  }
  std::printf("%s: re-wrapped the data keys of %zu %s in %s%s\n", region.c_str(), done, what.c_str(), dir.c_str(),
              done ? (" under " + now).c_str() : "");
  return 0;
}

int Rewrap(const Config& config, const std::string& region, keys::KeyProvider& provider) {
  FileSystem* fs = FileSystem::Default();
  const std::string log_dir = RegionLogDir(config, region), lake_dir = RegionLakeDir(config, region);
  auto segments = log::ListSegmentKeyFiles(fs, log_dir);
  if (!segments.ok()) return Fail("keys", segments.status().message());
  int rc = RewrapEach(
      *segments, [&](const std::string& key_file) { return log::RewrapSegmentKey(fs, provider, key_file); },
      "log segments", region, log_dir);
  if (rc != 0) return rc;
  auto sidecars = lake::ListSidecars(fs, lake_dir);
  if (!sidecars.ok()) return Fail("keys", sidecars.status().message());
  std::vector<std::string> data_files;
  for (const lake::LakeFileKey& f : *sidecars) data_files.push_back(f.data_file);
  return RewrapEach(
      data_files, [&](const std::string& data_file) { return lake::RewrapSidecar(fs, provider, data_file); },
      "encrypted lake files", region, lake_dir);
}

// One action, after the flags and the configuration are read.
int KeysAction(const Flags& f, const Config& config, const std::string& action, const std::string& keys_dir,
               const std::string& region) {
  const std::vector<std::string>& pos = f.positional();
  if (action == "list") return List(keys_dir, region);
  keys::LocalKeyStore store(keys_dir, region);
  if (action == "rewrap" || action == "data-key") {
    auto ring = keys::KeyRing::Open(keys_dir, config.Get("key-command"), {region});
    if (!ring.ok()) return Fail("keys", ring.status().message());
    keys::KeyProvider& provider = *(*ring)->For(region);
    if (action == "data-key") return DataKey(pos[1], provider);
    return Rewrap(config, region, provider);
  }
  if (action == "status" || action == "retire") {
    std::string checkpoint_dir = config.Get("checkpoint-dir");
    if (checkpoint_dir.empty()) checkpoint_dir = JoinPath(config.Get("data-dir"), "checkpoints");
    auto ring = keys::KeyRing::Open(keys_dir, config.Get("key-command"), {region});
    if (!ring.ok()) return Fail("keys", ring.status().message());
    size_t checkpoints = 0;
    auto deps = Dependents(checkpoint_dir, region, ring->get(), &checkpoints);
    if (!deps.ok()) return Fail("keys", deps.status().message());
    std::printf("%s: %zu checkpoints read in %s\n", region.c_str(), checkpoints,
                JoinPath(checkpoint_dir, region).c_str());
    size_t segments = 0;
    if (Status s = AddLogSegments(RegionLogDir(config, region), &*deps, &segments); !s.ok())
      return Fail("keys", s.message());
    if (segments > 0)
      std::printf("%s: %zu sealed log segments in %s\n", region.c_str(), segments,
                  RegionLogDir(config, region).c_str());
    size_t lake_files = 0;
    if (Status s = AddLakeFiles(RegionLakeDir(config, region), &*deps, &lake_files); !s.ok())
      return Fail("keys", s.message());
    if (lake_files > 0)
      std::printf("%s: %zu encrypted lake files in %s\n", region.c_str(), lake_files,
                  RegionLakeDir(config, region).c_str());
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
                              " and no encrypted lake file in " + RegionLakeDir(config, region) +
                              ": nothing proves the key unused (wrong --data-dir, --checkpoint-dir or "
                              "--lake-root?); --force retires it anyway");
    if (auto it = deps->find(id); it != deps->end())
      return Fail("keys", id + " still wraps the data keys of " + std::to_string(it->second.size()) + " files (" +
                              it->second.front() + (it->second.size() > 1 ? ", ..." : "") +
                              "); after a rotation, running processors re-wrap checkpoints at their next "
                              "checkpoint and `watershed keys rewrap` re-wraps log segments and lake files");
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

}  // namespace

int KeysCommand(const std::vector<std::string>& args) {
  const std::vector<std::string> known = {"region",   "keys-dir",  "help!",          "config",
                                          "data-dir", "key",       "checkpoint-dir", "key-command",
                                          "force!",   "lake-root", "governance-file"};
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
    if (key == "data-dir" || key == "config" || key == "checkpoint-dir" || key == "key-command" || key == "lake-root" ||
        key == "governance-file")
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
  // A changing action is audited before it runs (with a governance-file; fail closed). data-key reveals a key.
  auto audit = AdminAudit::Open(*config, region);
  if (!audit.ok()) return Fail("keys", audit.status().message(), 2);
  if (action != "list" && action != "status") {
    std::vector<std::string> words = {"keys"};
    words.insert(words.end(), args.begin(), args.end());
    if (Status s = (*audit)->Begin(words, "keys " + region); !s.ok()) return Fail("keys " + action, NotAudited(s), 1);
  }
  return (*audit)->End(KeysAction(f, *config, action, keys_dir, region));
}

}  // namespace watershed::app
