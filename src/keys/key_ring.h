#pragma once
// The key providers of the regions one process serves, when encryption is
// on (docs/encryption.md). Each region's provider reads only that region's
// keys; a region this process does not serve has none here.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "keys/key_provider.h"

namespace watershed::keys {

class KeyRing {
 public:
  // The local provider over `keys_dir`, or the exec provider running
  // `key_command` when it is not empty. Wraps and unwraps a data key per
  // region first, so a missing key or a broken command stops the start with
  // a message saying what to do, not the first checkpoint.
  static Result<std::unique_ptr<KeyRing>> Open(const std::string& keys_dir, const std::string& key_command,
                                               const std::vector<std::string>& regions);
  // nullptr for a region not served here. Providers are thread-safe.
  KeyProvider* For(std::string_view region) const;

 private:
  std::map<std::string, std::unique_ptr<KeyProvider>, std::less<>> providers_;
};

}  // namespace watershed::keys
