// `watershed keys create|rotate|list`: the local key provider's key-encryption
// keys (src/keys, docs/encryption.md).

#include <algorithm>
#include <cstdio>

#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "core/file_system.h"
#include "keys/key_provider.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed keys create --region R [--keys-dir DIR | --data-dir DIR]\n"
    "       watershed keys rotate --region R [...]\n"
    "       watershed keys list [--region R] [...]\n\n"
    "Key-encryption keys (KEKs) of the local key provider, one directory per region:\n"
    "<keys-dir>/<region>/<key-id>.key (32 random bytes as hex, mode 0600) and <region>/current.\n"
    "create adds a KEK (current when the region has none); rotate adds one and makes it current,\n"
    "so new data keys are wrapped under it while older ones still unwrap; list shows them.\n"
    "keys-dir defaults to <data-dir>/keys; also accepts --config FILE.\n"
    "Encryption of the log, checkpoints and lake files with these keys is not built yet (issue #13).\n";

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

}  // namespace

int KeysCommand(const std::vector<std::string>& args) {
  const std::vector<std::string> known = {"region", "keys-dir", "help!", "config", "data-dir"};
  auto parsed = Flags::Parse(args, known);
  if (!parsed.ok()) return Fail("keys", parsed.status().message() + "\n\n" + kHelp, 2);
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::vector<std::string>& pos = f.positional();
  if (pos.size() != 1 || (pos[0] != "create" && pos[0] != "rotate" && pos[0] != "list"))
    return Fail("keys", "expected create, rotate or list\n\n" + std::string(kHelp), 2);
  std::vector<std::string> settings;
  for (const auto& [key, value] : f.values())
    if (key == "data-dir" || key == "config") settings.push_back("--" + key + "=" + value);
  auto config = Config::Load(ServeConfigKeys(), settings);
  if (!config.ok()) return Fail("keys", config.status().message(), 2);
  const std::string keys_dir = f.Has("keys-dir") ? f.Get("keys-dir") : JoinPath(config->Get("data-dir"), "keys");
  const std::string region = f.Get("region");
  if (!region.empty()) {
    if (Status s = keys::CheckRegionName(region); !s.ok()) return Fail("keys", s.message(), 2);
  } else if (pos[0] != "list") {
    return Fail("keys", pos[0] + " needs --region", 2);
  }
  if (pos[0] == "list") return List(keys_dir, region);
  keys::LocalKeyStore store(keys_dir, region);
  auto id = store.Create(pos[0] == "rotate");
  if (!id.ok()) return Fail("keys", id.status().message());
  auto current = store.Current();
  std::printf("%s: created key %s in %s%s\n", region.c_str(), id->c_str(), store.dir().c_str(),
              current.ok() && *current == *id ? " (current)" : "");
  return 0;
}

}  // namespace watershed::app
