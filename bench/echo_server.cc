// Reference server for the ingest benchmark: Watershed's own HTTP transport
// (http::HttpServer) answering every POST at once, without parsing,
// logging or syncing — the ceiling the real ingest path is compared with.
// usage: echo_server PORT [PARTITIONS]

#include <signal.h>

#include <cstdio>
#include <string>

#include "http/http_server.h"

int main(int argc, char** argv) {
  using namespace watershed::http;
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_server PORT [PARTITIONS]\n");
    return 2;
  }
  const int partitions = argc > 2 ? std::stoi(argv[2]) : 8;
  std::string status = "{\"partitions\":[";
  for (int p = 0; p < partitions; ++p)
    status += (p ? "," : "") + std::string("{\"region\":\"us\",\"partition\":") + std::to_string(p) + "}";
  status += "],\"lag\":0}";
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  HttpServerOptions options;
  options.port = static_cast<uint16_t>(std::stoi(argv[1]));
  auto server = HttpServer::Start(options, [&status](HttpRequest&& req, Responder respond) {
    HttpResponse r;
    r.body = req.method == "POST" ? "{\"accepted\":0,\"rejected\":[]}" : status;
    respond(std::move(r));
  });
  if (!server.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
