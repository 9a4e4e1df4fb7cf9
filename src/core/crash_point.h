#pragma once
// Named crash points for recovery tests. Compiled in, inert unless the
// environment variable WATERSHED_CRASH_POINT names the point; then the
// process dies there at once (_exit, no cleanup), like a kill -9.

namespace watershed {

void CrashPoint(const char* name);

}  // namespace watershed
