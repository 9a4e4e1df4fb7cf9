#pragma once
// `encryption = on` for the lake (docs/encryption.md, "Lake files"): every
// data file this process writes is encrypted under a fresh data key and
// encrypted files are read with theirs, whose sidecars the region's
// key-encryption key wraps (lake/file_keys.h).

#include <memory>
#include <string>

#include "app/config.h"
#include "core/status.h"
#include "keys/key_ring.h"

namespace watershed::app {

// Makes `ring`'s providers the process's lake file keys for files under
// `lake_root` (lake::SetDefaultFileKeys); `ring` must outlive them, or
// ForgetLakeKeys() be called first.
void UseLakeKeys(const std::string& lake_root, keys::KeyRing* ring);
void ForgetLakeKeys();

// For the CLI commands that read or write the lake (sql, lake): with
// `encryption = on` in `config`, opens the key providers of its regions
// that have keys (an error only when none has) and uses them for
// `lake_root`; returns what holds them (nullptr when encryption is off).
Result<std::shared_ptr<void>> UseLakeKeysOf(const Config& config, const std::string& lake_root);

}  // namespace watershed::app
