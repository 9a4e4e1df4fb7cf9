// Fuzzes the sealed-message envelope (src/keys/envelope.h): every log
// segment and checkpoint will be read through it, so a damaged file must be
// an error, never a crash or a forged plaintext. The key store is a fixed
// KEK in a temporary directory, so the seed corpus' message opens:
//  * no input crashes or trips a sanitizer;
//  * an input opens only to the one plaintext ever sealed (forgery fails);
//  * SealedKey and RewrapMessage agree with OpenMessage on what parses.
// WATERSHED_ENVELOPE_SEED=FILE writes a valid sealed message to FILE (the
// seed corpus' entry) and exits.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/file_system.h"
#include "keys/envelope.h"

namespace {

using namespace watershed;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr char kPlain[] = "checkpoint of partition 3 at offset 1234";
constexpr char kContext[] = "fuzz";

struct Keys {
  std::string dir;
  std::unique_ptr<keys::KeyProvider> provider;
  Keys() {
    char tmpl[] = "/tmp/watershed_envelope_fuzz_XXXXXX";
    Check(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    Check(FileSystem::Default()->CreateDirs(dir + "/eu").ok());
    Check(CreatePrivateFile(dir + "/eu/k1.key", std::string(64, 'a') + "\n").ok());
    Check(WriteFileAtomically(FileSystem::Default(), dir + "/eu/current", "k1\n").ok());
    provider = keys::NewLocalKeyProvider(dir, "eu");
    if (const char* seed = ::getenv("WATERSHED_ENVELOPE_SEED")) {
      auto sealed = keys::SealMessage(*provider, kContext, kPlain);
      Check(sealed.ok());
      std::ofstream(seed, std::ios::binary) << *sealed;
      std::exit(0);
    }
  }
  ~Keys() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Keys keys;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto opened = keys::OpenMessage(*keys.provider, kContext, input);
  Check(!opened.ok() || *opened == kPlain);
  auto key = keys::SealedKey(input);
  if (opened.ok()) Check(key.ok());
  auto rewrapped = keys::RewrapMessage(*keys.provider, input);
  if (rewrapped.ok()) Check(keys::OpenMessage(*keys.provider, kContext, *rewrapped).ok() == opened.ok());
  return 0;
}
