#include "core/crash_point.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace watershed {

void CrashPoint(const char* name) {
  static const char* armed = std::getenv("WATERSHED_CRASH_POINT");
  if (armed != nullptr && std::strcmp(armed, name) == 0) _exit(137);
}

}  // namespace watershed
