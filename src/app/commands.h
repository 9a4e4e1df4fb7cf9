#pragma once
// The subcommands of the `watershed` binary. Each takes the arguments after
// its name and returns the process exit code.

#include <string>
#include <vector>

namespace watershed::app {

int ServeCommand(const std::vector<std::string>& args);
// The processes of a split deployment (server.h).
int GatewayCommand(const std::vector<std::string>& args);
int ProcessorCommand(const std::vector<std::string>& args);
int QueryServeCommand(const std::vector<std::string>& args);  // `watershed query serve`
int LoadCommand(const std::vector<std::string>& args);
int QueryCommand(const std::vector<std::string>& args);
int StatusCommand(const std::vector<std::string>& args);
int TokenCommand(const std::vector<std::string>& args);
int KafkaMockCommand(const std::vector<std::string>& args);
int LakeCommand(const std::vector<std::string>& args);  // `watershed lake compact|expire-snapshots|...`

// Small flag parser for the client commands: --key value | --key=value | --flag.
class Flags {
 public:
  // `known` lists the accepted keys; a key ending in '!' is a boolean flag.
  static bool Parse(const std::vector<std::string>& args, const std::vector<std::string>& known, Flags* out,
                    std::string* error);
  std::string Get(const std::string& key, const std::string& fallback = "") const;
  bool Has(const std::string& key) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace watershed::app
