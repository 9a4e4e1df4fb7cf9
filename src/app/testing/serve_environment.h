#pragma once
// Tests only: Config::Load reads WATERSHED_CONFIG and WATERSHED_<KEY>
// variables; tests that load a configuration clear them first so the
// caller's shell cannot change what they test.

#include <stdlib.h>

#include <cctype>
#include <string>

#include "app/config.h"

namespace watershed::app::testing {

inline void ClearServeEnvironment() {
  ::unsetenv("WATERSHED_CONFIG");
  for (const auto& k : ServeConfigKeys()) {
    std::string env = "WATERSHED_";
    for (const char* c = k.name; *c; ++c) env.push_back(*c == '-' ? '_' : static_cast<char>(std::toupper(*c)));
    ::unsetenv(env.c_str());
  }
}

}  // namespace watershed::app::testing
