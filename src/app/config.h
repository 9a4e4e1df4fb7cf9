#pragma once
// Configuration of `watershed serve`. Every key has a default; a config
// file (key = value lines, # comments), then environment variables
// (WATERSHED_<KEY> with '-' → '_', upper case), then command-line flags
// (--key=value or --key value) override it, in that order.

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace watershed::app {

// A name ending in ".*" declares a family: any key with that prefix (e.g.
// kafka-property.security.protocol) is accepted from the file and flags
// (not the environment) and read with Config::WithPrefix.
struct ConfigKey {
  const char* name;
  const char* default_value;
  const char* help;
};

// Every key `serve` understands, with its default; README lists the same.
const std::vector<ConfigKey>& ServeConfigKeys();

class Config {
 public:
  // Builds the configuration from defaults, --config FILE (or WATERSHED_CONFIG),
  // the environment and argv (flags after the subcommand). Unknown keys are errors.
  // With a `region-names` key, also sets the process's region table
  // (core/event.h; call before threads start) and fills an empty `regions`
  // with every name.
  static Result<Config> Load(const std::vector<ConfigKey>& keys, const std::vector<std::string>& args);

  const std::string& Get(const std::string& key) const;
  Result<int64_t> GetInt(const std::string& key) const;
  // on/off, true/false, yes/no, 1/0.
  Result<bool> GetBool(const std::string& key) const;
  // Durations: "250ms", "10s", "5m", "1h", "7d"; a bare number is milliseconds.
  // Values above max_ms are errors (they would overflow time arithmetic).
  Result<int64_t> GetDurationMs(const std::string& key, int64_t max_ms = kMaxDurationMs) const;
  static constexpr int64_t kMaxDurationMs = 10ll * 365 * 86'400'000;  // ten years
  // Sizes: "1048576", "64KiB", "64MiB", "10GiB".
  Result<int64_t> GetBytes(const std::string& key) const;
  bool Has(const std::string& key) const { return values_.count(key) > 0; }
  // The keys of a family given "prefix." (without the prefix) and values, sorted.
  std::vector<std::pair<std::string, std::string>> WithPrefix(const std::string& prefix) const;

 private:
  std::map<std::string, std::string> values_;
};

// Parses a duration: "250ms", "10s", "5m", "1h", "7d"; a bare number counts
// in bare_unit_ms. Values above max_ms are errors. `name` starts the messages.
Result<int64_t> ParseDurationMs(const std::string& name, const std::string& value, int64_t bare_unit_ms = 1,
                                int64_t max_ms = Config::kMaxDurationMs);

// Prints "--key (default)  help" lines for --help.
std::string DescribeKeys(const std::vector<ConfigKey>& keys);

}  // namespace watershed::app
