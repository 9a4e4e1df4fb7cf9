#pragma once
// Test helper: a real redis-server on a free loopback port, in its own temp
// directory, without persistence (--save "" --appendonly no). Start() waits
// until it answers PING; Kill() ends it with SIGKILL by pid (a crash);
// Start() again brings it back on the same port, empty. The destructor
// kills the server by pid and removes the directory, so a failing test
// leaves nothing running. The child also dies with the test process
// (PR_SET_PDEATHSIG).
//
// Not thread-safe; one object per server.

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "serve/redis_connection.h"

namespace watershed::serve::testing {

class RedisServer {
 public:
  RedisServer() {
    char tmpl[] = "/tmp/ws-redis-XXXXXX";
    if (const char* d = mkdtemp(tmpl)) dir_ = d;
    port_ = FreePort();
  }
  ~RedisServer() {
    Kill();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Extra redis-server arguments for later Start()s, e.g. {"--replicaof", "127.0.0.1", "6379"}.
  void AddArgs(std::vector<std::string> args) { extra_args_.insert(extra_args_.end(), args.begin(), args.end()); }

  // Starts the server (if not running) and waits up to 10 s for PING.
  bool Start() {
    if (pid_ > 0) return true;
    if (dir_.empty() || port_ <= 0) return false;
    const std::string port = std::to_string(port_);
    const std::string log = dir_ + "/redis.log";
    std::vector<std::string> args = {"redis-server", "--port",       port,  "--bind", "127.0.0.1", "--dir",
                                     dir_,           "--save",       "",    "--appendonly", "no",   "--logfile",
                                     log,            "--daemonize", "no"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    pid_ = pid;
    for (int i = 0; i < 200; ++i) {
      if (Ping()) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: e.g. port taken
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Kill();
    return false;
  }

  // SIGKILL by pid and reap; no-op when not running.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // AUTH that Ping() (and so Start()) uses, for a server started with
  // --requirepass or an ACL user.
  void SetAuth(serve::RedisSecurity auth) { auth_ = std::move(auth); }

  bool Ping() const {
    auto conn = serve::RedisConnection::Open("127.0.0.1", port_, 200, 1000, auth_);
    if (!conn.ok() || !(*conn)->Append({"PING"}).ok()) return false;
    auto reply = (*conn)->Read();
    return reply.ok() && reply->type == serve::RedisReply::Type::kStatus && reply->str == "PONG";
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const serve::RedisSecurity& auth() const { return auth_; }
  bool running() const { return pid_ > 0; }

 private:
  // A port the kernel just handed out, released for redis-server to bind.
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int port = -1;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port = ntohs(addr.sin_port);
    close(fd);
    return port;
  }

  std::string dir_;
  std::vector<std::string> extra_args_;
  serve::RedisSecurity auth_;
  int port_ = -1;
  pid_t pid_ = -1;
};

}  // namespace watershed::serve::testing
