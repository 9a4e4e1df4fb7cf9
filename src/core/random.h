#pragma once
// Random names: data and manifest files, table UUIDs, writer tokens, Avro
// sync markers. Unique enough that two processes or threads writing side by
// side never pick the same one; not for secrets (the generator is seeded
// per thread, and again in a forked child, from std::random_device, and its
// output predicts what follows).

#include <cstddef>
#include <string>

namespace watershed {

// Fills `out` with `n` random bytes. Thread-safe.
void RandomBytes(void* out, size_t n);

// 2 * `bytes` lowercase hex digits of RandomBytes. Thread-safe.
std::string RandomHex(size_t bytes);

}  // namespace watershed
