#include "core/keyed_hash.h"

#include <sys/random.h>

#include <cerrno>

namespace watershed {

bool HashKey::Random(HashKey* out) {
  uint64_t words[2];
  char* p = reinterpret_cast<char*>(words);
  size_t got = 0;
  while (got < sizeof words) {
    ssize_t n = getrandom(p + got, sizeof words - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += static_cast<size_t>(n);
  }
  *out = {words[0], words[1]};
  return true;
}

}  // namespace watershed
