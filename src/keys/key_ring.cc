#include "keys/key_ring.h"

namespace watershed::keys {

Result<std::unique_ptr<KeyRing>> KeyRing::Open(const std::string& keys_dir, const std::string& key_command,
                                               const std::vector<std::string>& regions) {
  auto ring = std::make_unique<KeyRing>();
  for (const std::string& region : regions) {
    RETURN_IF_ERROR(CheckRegionName(region));
    std::unique_ptr<KeyProvider> p =
        key_command.empty() ? NewLocalKeyProvider(keys_dir, region) : NewExecKeyProvider(key_command, region);
    auto d = NewDataKey(*p);
    if (!d.ok()) return Status(d.status().code(), "encryption = on: region " + region + ": " + d.status().message());
    auto back = p->Unwrap(d->wrapped);
    if (!back.ok() || !(*back == d->key))
      return Status::FailedPrecondition("encryption = on: region " + region + ": a data key does not unwrap to itself" +
                                        (back.ok() ? std::string() : ": " + back.status().message()));
    ring->providers_.emplace(region, std::move(p));
  }
  return ring;
}

KeyProvider* KeyRing::For(std::string_view region) const {
  auto it = providers_.find(region);
  return it == providers_.end() ? nullptr : it->second.get();
}

}  // namespace watershed::keys
