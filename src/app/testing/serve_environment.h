#pragma once
// Tests only: Config::Load reads WATERSHED_CONFIG and WATERSHED_<KEY>
// variables; tests that load a configuration clear them first so the
// caller's shell cannot change what they test. And the body registering
// test stories.

#include <stdlib.h>

#include <cctype>
#include <string>

#include "app/config.h"

namespace watershed::app::testing {

// POST /v1/stories body registering stories 1..n, all by `author`.
inline std::string StoriesBody(uint64_t n, uint64_t author) {
  std::string body = R"({"stories": [)";
  for (uint64_t story = 1; story <= n; ++story)
    body += (story > 1 ? "," : "") + std::string(R"({"story_id": )") + std::to_string(story) +
            R"(, "author_id": )" + std::to_string(author) + "}";
  return body + "]}";
}

inline void ClearServeEnvironment() {
  ::unsetenv("WATERSHED_CONFIG");
  for (const auto& k : ServeConfigKeys()) {
    std::string env = "WATERSHED_";
    for (const char* c = k.name; *c; ++c) env.push_back(*c == '-' ? '_' : static_cast<char>(std::toupper(*c)));
    ::unsetenv(env.c_str());
  }
}

}  // namespace watershed::app::testing
