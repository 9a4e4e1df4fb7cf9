#include "core/random.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>

#include "core/hex.h"

namespace watershed {
namespace {

struct Generator {
  pid_t pid = -1;
  std::mt19937_64 rng;
};

std::mt19937_64& ThreadGenerator() {
  static thread_local Generator g;
  // A forked child would otherwise repeat its parent's names.
  if (const pid_t pid = ::getpid(); g.pid != pid) {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd(), static_cast<unsigned>(pid)};
    g.rng.seed(seed);
    g.pid = pid;
  }
  return g.rng;
}

}  // namespace

void RandomBytes(void* out, size_t n) {
  std::mt19937_64& rng = ThreadGenerator();
  auto* p = static_cast<unsigned char*>(out);
  for (size_t k = 0; k < n; k += sizeof(uint64_t)) {
    const uint64_t r = rng();
    std::memcpy(p + k, &r, std::min(sizeof r, n - k));
  }
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RandomBytes(raw.data(), bytes);
  return LowerHex(raw.data(), bytes);
}

}  // namespace watershed
