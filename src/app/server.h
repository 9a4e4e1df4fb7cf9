#pragma once
// The all-in-one server (`watershed serve`): per region an embedded log and
// a RegionProcessor, one in-process live store, auth, the HTTP API. Tests start it
// in-process; main() runs it until SIGINT/SIGTERM.

#include <memory>
#include <vector>

#include "app/auth_setup.h"
#include "app/config.h"
#include "core/file_system.h"
#include "gateway/api.h"
#include "gateway/http_server.h"
#include "log/embedded_log.h"
#include "log/kafka_log.h"
#include "stream/region_processor.h"

namespace watershed::app {

// The live store `spec` names: "memory", "redis://HOST:PORT" or
// "redis-cluster://HOST:PORT,..." (keys under `prefix`; Redis writes wait
// for `wait_replicas` replicas).
Result<std::unique_ptr<serve::LiveStore>> OpenLiveStore(const std::string& spec, const std::string& prefix,
                                                        int wait_replicas = 0);

class Server {
 public:
  // Opens the logs (truncating torn tails), restores checkpoints, starts the
  // processors and the listener. `fs` is for durability tests.
  static Result<std::unique_ptr<Server>> Start(const Config& config, FileSystem* fs = FileSystem::Default());
  ~Server();
  uint16_t port() const { return http_->port(); }
  // Stops the listener, drains the logs, writes final checkpoints.
  Status Stop();
  uint64_t Lag() const;
  // SIGHUP: rereads the TLS certificate and key and the JWKS file. What fails
  // keeps its previous credentials; the first error is returned.
  Status ReloadCredentials();

 private:
  Server() = default;
  std::vector<gateway::PartitionReport> Report() const;

  MetricsRegistry metrics_;
  std::unique_ptr<serve::LiveStore> store_;
  std::unique_ptr<stream::CheckpointStore> checkpoints_;
  std::array<std::unique_ptr<log::Log>, kRegionCount> logs_;
  std::vector<std::unique_ptr<stream::RegionProcessor>> processors_;
  std::unique_ptr<AuthRuntime> auth_;
  std::unique_ptr<gateway::Api> api_;
  std::unique_ptr<gateway::HttpServer> http_;
  bool stopped_ = false;
};

}  // namespace watershed::app
