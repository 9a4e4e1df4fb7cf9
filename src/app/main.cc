// watershed: one binary, several subcommands (README "Commands").

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "app/commands.h"
#include "core/event.h"

namespace {
constexpr const char* kUsage =
    "watershed — engagement events in, exactly-once live creator metrics out\n"
    "\n"
    "usage: watershed <command> [flags]   (watershed <command> --help for its flags)\n"
    "\n"
    "commands:\n"
    "  serve    run the platform: HTTP ingest, embedded log, processors, query API\n"
    "  gateway  split deployment: ingest into Kafka only\n"
    "  processor  split deployment: a processor in each region's consumer group\n"
    "  query serve  split deployment: reads and status from Redis\n"
    "  load     send a generated workload (optionally write or verify ground truth)\n"
    "  query    read a story's metrics or series, or a creator's top stories\n"
    "  status   show log, processing and checkpoint progress, and lag\n"
    "  token    print a signed bearer token (development and tests)\n"
    "  kafka-mock  run librdkafka's in-memory mock Kafka cluster (tests and development)\n"
    "  lake     maintain the data lake: compact, expire-snapshots, remove-orphans, lifecycle\n"
    "  sql      SQL over the data lake: a query, -c, -f FILE, stdin, or an interactive shell\n"
    "  audit    the audit trail of lake queries (governance-file): --since, --user, --verdict\n"
    "  catalog  fill the story catalogue (authorship) from a CSV or JSON file, or show a story\n"
    "  plan     capacity and cost plan for a target rate (bench profile: measure its figures here)\n"
    "  recs     recommendations: import, train, evaluate, list/promote/rollback models, A/B experiments, rules\n"
    "  keys     encryption keys per region: create, rotate, list, status, retire\n"
    "  erase    erasure of a viewer (GDPR art. 17): --viewer ID, --resume, --list, --verify ID\n";
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  // The deployment's region names (region-names): commands with a
  // configuration read them there too (a flag or the config file wins);
  // this covers the commands without one (load, query, status, plan).
  if (const char* names = std::getenv("WATERSHED_REGION_NAMES"); names != nullptr) {
    if (auto set = watershed::SetRegionNames(std::string_view(names)); !set.ok()) {
      std::fprintf(stderr, "watershed: WATERSHED_REGION_NAMES: %s\n", set.message().c_str());
      return 2;
    }
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  using namespace watershed::app;
  if (command == "serve") return ServeCommand(args);
  if (command == "gateway") return GatewayCommand(args);
  if (command == "processor") return ProcessorCommand(args);
  if (command == "query" && !args.empty() && args[0] == "serve")
    return QueryServeCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  if (command == "load") return LoadCommand(args);
  if (command == "query") return QueryCommand(args);
  if (command == "status") return StatusCommand(args);
  if (command == "token") return TokenCommand(args);
  if (command == "kafka-mock") return KafkaMockCommand(args);
  if (command == "lake") return LakeCommand(args);
  if (command == "catalog") return CatalogCommand(args);
  if (command == "recs") return RecsCommand(args);
  if (command == "sql") return SqlCommand(args);
  if (command == "audit") return AuditCommand(args);
  if (command == "plan") return PlanCommand(args);
  if (command == "bench") return BenchCommand(args);
  if (command == "keys") return KeysCommand(args);
  if (command == "erase") return EraseCommand(args);
  std::fprintf(stderr, "watershed: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
