#include <signal.h>

#include <cstdio>

#include "app/commands.h"
#include "app/server.h"

namespace watershed::app {

int ServeCommand(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: watershed serve [--config FILE] [--KEY VALUE ...]\n\n"
          "Runs ingest, the embedded log, the processors and the query API in one process.\n"
          "Settings (default) [environment variable]:\n%s",
          DescribeKeys(ServeConfigKeys()).c_str());
      return 0;
    }
  }
  auto config = Config::Load(ServeConfigKeys(), args);
  if (!config.ok()) {
    std::fprintf(stderr, "watershed serve: %s\n", config.status().message().c_str());
    return 2;
  }
  // Block the signals before any thread starts, so only sigwait sees them.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = Server::Start(*config);
  if (!server.ok()) {
    std::fprintf(stderr, "watershed serve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("watershed serving on %s://%s:%u  (data in %s, auth %s)\n",
              config->Get("tls-cert").empty() ? "http" : "https", config->Get("listen").c_str(), (*server)->port(),
              config->Get("data-dir").c_str(), config->Get("auth").c_str());
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
  std::printf("watershed: signal %d, stopping (final checkpoint)\n", sig);
  Status s = (*server)->Stop();
  if (!s.ok()) {
    std::fprintf(stderr, "watershed serve: stop: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace watershed::app
