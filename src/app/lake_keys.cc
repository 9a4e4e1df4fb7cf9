#include "app/lake_keys.h"

#include <map>

#include "app/serve_settings.h"
#include "lake/file_keys.h"

namespace watershed::app {

void UseLakeKeys(const std::string& lake_root, keys::KeyRing* ring) {
  lake::SetDefaultFileKeys(
      lake::NewLakeFileKeys(lake_root, [ring](std::string_view region) { return ring->For(region); }));
}

void ForgetLakeKeys() { lake::SetDefaultFileKeys(nullptr); }

Result<std::shared_ptr<void>> UseLakeKeysOf(const Config& config, const std::string& lake_root) {
  ASSIGN_OR_RETURN(bool on, config.GetBool("encryption"));
  if (!on) return std::shared_ptr<void>();
  const std::string keys_dir =
      config.Get("keys-dir").empty() ? JoinPath(config.Get("data-dir"), "keys") : config.Get("keys-dir");
  // Each region on its own: a command reading one region's lake needs only
  // that region's keys; a file of a region without them is refused when read.
  auto rings = std::make_shared<std::map<std::string, std::unique_ptr<keys::KeyRing>, std::less<>>>();
  Status first;
  for (const std::string& region : SplitList(config.Get("regions"))) {
    auto ring = keys::KeyRing::Open(keys_dir, config.Get("key-command"), {region});
    if (ring.ok()) {
      (*rings)[region] = std::move(*ring);
    } else if (first.ok()) {
      first = ring.status();
    }
  }
  if (rings->empty()) return first.ok() ? Status::InvalidArgument("encryption = on but no regions") : first;
  lake::SetDefaultFileKeys(lake::NewLakeFileKeys(lake_root, [rings](std::string_view region) {
    auto it = rings->find(region);
    return it == rings->end() ? nullptr : it->second->For(region);
  }));
  return std::shared_ptr<void>(rings);
}

}  // namespace watershed::app
