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
int CatalogCommand(const std::vector<std::string>& args);  // `watershed catalog import|show`
int RecsCommand(const std::vector<std::string>& args);     // `watershed recs import|train|eval|models|generate|experiment|rules`
int SqlCommand(const std::vector<std::string>& args);      // `watershed sql`: SQL over the lake, shell
int AuditCommand(const std::vector<std::string>& args);    // `watershed audit`: the audit trail of lake queries
int PlanCommand(const std::vector<std::string>& args);     // `watershed plan`: capacity and cost
int BenchCommand(const std::vector<std::string>& args);    // `watershed bench profile`: figures for plan
int KeysCommand(const std::vector<std::string>& args);
int EraseCommand(const std::vector<std::string>& args);  // `watershed erase`: erasure of a viewer (GDPR art. 17)     //
                                                         // `watershed keys ...`: encryption keys, rewrap, data-key

}  // namespace watershed::app
