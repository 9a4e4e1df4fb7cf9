// `watershed serve` (everything in one process) and the processes of a split
// deployment: `watershed gateway`, `watershed processor`, `watershed query
// serve` (docs/deploy.md). They share the configuration keys and run until
// SIGINT/SIGTERM; SIGHUP rereads the TLS certificate and the JWKS.

#include <signal.h>

#include <cstdio>

#include "app/commands.h"
#include "app/flags.h"
#include "app/server.h"

namespace watershed::app {
namespace {

// What Server::Stop does in this role, for the shutdown line.
const char* StopSummary(ServerRoles roles) {
  switch (roles.processing) {
    case ServerRoles::Processing::kAllPartitions:
      return "final checkpoint";
    case ServerRoles::Processing::kGroup:
      return "leaving the consumer groups, final checkpoints";
    case ServerRoles::Processing::kNone:
      break;
  }
  // No processors here, so no checkpoint; a gateway's log is Kafka (split roles need it).
  return roles.ingest ? "closing the listener, delivering the appends in flight to Kafka" : "closing the listener";
}

int RunServer(const std::vector<std::string>& args, ServerRoles roles, const char* usage, const char* summary) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::printf("usage: %s [--config FILE] [--KEY VALUE ...]\n\n%s\nSettings (default) [environment variable]:\n%s",
                  usage, summary, DescribeKeys(ServeConfigKeys()).c_str());
      return 0;
    }
  }
  auto config = Config::Load(ServeConfigKeys(), args);
  if (!config.ok()) return Fail(roles.command, config.status().message(), 2);
  // Block the signals before any thread starts, so only sigwait sees them.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = Server::Start(*config, FileSystem::Default(), roles);
  if (!server.ok()) return Fail(roles.command, server.status().ToString());
  std::printf("watershed %s on %s://%s:%u  (log %s, live store %s, auth %s)\n", roles.command,
              config->Get("tls-cert").empty() ? "http" : "https", config->Get("listen").c_str(), (*server)->port(),
              config->Get("log").c_str(), config->Get("live-store").c_str(), config->Get("auth").c_str());
  std::fflush(stdout);
  int sig = 0;
  for (;;) {
    sigwait(&handled, &sig);
    if (sig != SIGHUP) break;
    // SIGHUP: rotate credentials without a restart.
    Status reload = (*server)->ReloadCredentials();
    if (reload.ok()) {
      std::printf("watershed: SIGHUP, TLS certificate and JWKS reloaded\n");
    } else {
      std::fprintf(stderr, "watershed: SIGHUP reload failed, keeping the previous credentials: %s\n",
                   reload.ToString().c_str());
    }
    std::fflush(stdout);
  }
  std::printf("watershed: signal %d, stopping (%s)\n", sig, StopSummary(roles));
  std::fflush(stdout);
  Status s = (*server)->Stop();
  if (!s.ok()) return Fail(roles.command, "stop: " + s.ToString());
  return 0;
}

}  // namespace

int ServeCommand(const std::vector<std::string>& args) {
  return RunServer(args, ServerRoles::AllInOne(), "watershed serve",
                   "Runs ingest, the logs, the processors and the query API in one process.\n");
}

int GatewayCommand(const std::vector<std::string>& args) {
  return RunServer(args, ServerRoles::Gateway(), "watershed gateway",
                   "Ingest only: POST /v1/events into the Kafka topics (log = kafka://...), answered\n"
                   "once the brokers acknowledged every event. Stateless: run any number behind a\n"
                   "load balancer. Reads are served by `watershed query serve`.\n");
}

int ProcessorCommand(const std::vector<std::string>& args) {
  return RunServer(args, ServerRoles::Processor(), "watershed processor",
                   "Joins each served region's consumer group (<topic>.processors) and processes the\n"
                   "partitions the group gives it into the Redis live store, checkpointing them in\n"
                   "checkpoint-dir, which every processor of the group must share. HTTP serves\n"
                   "/healthz, /metrics and /v1/status of its own partitions.\n");
}

int QueryServeCommand(const std::vector<std::string>& args) {
  return RunServer(args, ServerRoles::Query(), "watershed query serve",
                   "Reads only: the story, series and top endpoints from the Redis live store, and\n"
                   "/v1/status with lag = the Kafka end offsets minus the store's progress. Stateless:\n"
                   "run any number.\n");
}

}  // namespace watershed::app
