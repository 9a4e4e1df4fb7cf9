#pragma once
// Keys of encrypted lake files (Parquet modular encryption, issue #13;
// docs/encryption.md, "Lake files"). Every encrypted data file has its own
// random 256-bit data key; the region's key-encryption key (KEK) wraps it,
// and the wrapped form lives in a sidecar file `<data file>.key` beside it:
//   "watershed-lake-key-v1\n" <key id> "\n" <wrapped blob as hex> "\n"
// The data file never holds its key, so `watershed keys rewrap` re-wraps a
// file's key under a new KEK by replacing the sidecar alone: the data file
// stays byte-identical (Iceberg manifests record its size). A sidecar goes
// wherever its data file goes: maintenance deletes both (RemoveLakeFile).

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "keys/aead.h"
#include "keys/key_provider.h"

namespace watershed::lake {

// A data key for a file being written, and the sidecar content the writer
// stores beside the file when it completes ("" = none, e.g. a fixed key).
struct NewFileKey {
  keys::SecretKey key;
  std::string sidecar;
};

class FileKeys {
 public:
  virtual ~FileKeys() = default;
  // The data key of the encrypted file at `path`.
  virtual Result<keys::SecretKey> KeyOf(FileSystem* fs, const std::string& path) = 0;
  // A fresh data key for a new file at `path`.
  virtual Result<NewFileKey> NewKey(const std::string& path) = 0;
};

// Sidecar keys; `provider_for(path)` names the key provider of the region
// the file belongs to (nullptr: none served here, an error).
std::unique_ptr<FileKeys> NewSidecarFileKeys(std::function<keys::KeyProvider*(const std::string& path)> provider_for);
// Sidecar keys of the lake under `lake_root`, whose files lie under
// <lake_root>/<region>/: the region is the path's first component below the
// root. What `provider_of` returns must outlive the result.
std::unique_ptr<FileKeys> NewLakeFileKeys(std::string lake_root,
                                          std::function<keys::KeyProvider*(std::string_view region)> provider_of);
// One key for every file, no sidecar (tests, and reading a file whose key a
// user holds, as DuckDB does).
std::unique_ptr<FileKeys> NewFixedFileKey(const keys::SecretKey& key);

// The process's lake file keys: set when `encryption = on` (serve, and the
// CLI commands that read or write the lake). Writers given no keys of their
// own encrypt under these when set; readers use them for encrypted files.
void SetDefaultFileKeys(std::shared_ptr<FileKeys> keys);
std::shared_ptr<FileKeys> DefaultFileKeys();

// Sidecars.
inline constexpr std::string_view kSidecarSuffix = ".key";
std::string SidecarPath(const std::string& data_file);
std::string EncodeSidecar(const keys::WrappedKey& wrapped);
// kCorruption for anything but EncodeSidecar's output.
Result<keys::WrappedKey> DecodeSidecar(std::string_view text);
// Replaces the sidecar of `data_file` with its key wrapped under the
// provider's current KEK (`keys rewrap`). Returns the new key id. A data
// file deleted meanwhile (maintenance) loses the sidecar written for it.
Result<std::string> RewrapSidecar(FileSystem* fs, keys::KeyProvider& provider, const std::string& data_file);

// Every sidecar under `dir` (recursively): its data file's path and the
// wrapped key (`keys status`, `rewrap`, `retire`). kCorruption names a
// damaged sidecar.
struct LakeFileKey {
  std::string data_file;
  keys::WrappedKey wrapped;
};
Result<std::vector<LakeFileKey>> ListSidecars(FileSystem* fs, const std::string& dir);

// Removes a lake data file and its sidecar, if any. A file already gone is
// no error.
Status RemoveLakeFile(FileSystem* fs, const std::string& path);

}  // namespace watershed::lake
