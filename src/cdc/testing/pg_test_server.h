#pragma once
// Tests only: a throwaway PostgreSQL cluster for one test. initdb into a
// fresh /tmp directory, postgres on a free loopback port with logical
// replication enabled, its unix socket in the same directory; stopped (fast
// shutdown) and deleted when the object goes.
//
// PostgreSQL refuses to run as root, and CI runs tests as root: then initdb
// and postgres run as the user `nobody` (the process forks, drops its
// groups, gid and uid, and execs; no sudo/runuser needed), and the
// directory is handed to that user. Not as root, they run as the caller.
//
// Binaries come from WATERSHED_PG_BINDIR (set by src/cdc/CMakeLists.txt,
// Debian's /usr/lib/postgresql/<version>/bin). Available() says whether
// they are installed; a test may skip only on that.

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/testing/temp_dir.h"

namespace watershed::cdc::testing {

class PgTestServer {
 public:
  static std::string BinDir() { return WATERSHED_PG_BINDIR; }
  static bool Available() {
    return ::access((BinDir() + "/initdb").c_str(), X_OK) == 0 && ::access((BinDir() + "/postgres").c_str(), X_OK) == 0;
  }

  PgTestServer() : dir_("pgcdc") {}
  ~PgTestServer() { Stop(); }
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // initdb + postgres; returns once the server accepts connections.
  Status Start() {
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("nobody");
      if (pw == nullptr)
        return Status::FailedPrecondition("running as root, and there is no user `nobody` to run postgres");
      run_as_ = std::make_pair(pw->pw_uid, pw->pw_gid);
      if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) return Errno("chown " + dir_.path());
    }
    RETURN_IF_ERROR(
        Run({BinDir() + "/initdb", "-D", DataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"},
            dir_.Path("initdb.log")));
    // A free port can be taken between our probe and postgres's bind: retry.
    Status started;
    for (int attempt = 0; attempt < 5; ++attempt) {
      ASSIGN_OR_RETURN(port_, FreePort());
      started = StartPostgres();
      if (started.ok()) return started;
    }
    return started;
  }

  // Fast shutdown (SIGINT), SIGKILL after 20 s. Idempotent.
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname + " connect_timeout=10";
  }
  // The server's log so far, for failure messages.
  std::string Log() const { return ReadFile(dir_.Path("postgres.log")); }

 private:
  std::string DataDir() const { return dir_.Path("data"); }

  static Status Errno(const std::string& what) { return Status::IoError(what + ": " + std::strerror(errno)); }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static Result<int> FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return Errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      Status s = Errno("bind/getsockname");
      ::close(fd);
      return s;
    }
    ::close(fd);
    return static_cast<int>(ntohs(addr.sin_port));
  }

  // Forks and execs argv with stdout and stderr appended to `log`, as
  // run_as_ when set. Returns the child's pid.
  Result<pid_t> Spawn(const std::vector<std::string>& args, const std::string& log) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("open " + log);
    if (run_as_ && ::fchown(fd, run_as_->first, run_as_->second) != 0) {
      Status s = Errno("fchown " + log);
      ::close(fd);
      return s;
    }
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string cwd = dir_.path();
    pid_t pid = ::fork();
    if (pid < 0) {
      Status s = Errno("fork");
      ::close(fd);
      return s;
    }
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      if (run_as_ &&
          (::setgroups(0, nullptr) != 0 || ::setgid(run_as_->second) != 0 || ::setuid(run_as_->first) != 0)) {
        ::_exit(126);
      }
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fd);
    return pid;
  }

  Status Run(const std::vector<std::string>& args, const std::string& log) {
    ASSIGN_OR_RETURN(pid_t pid, Spawn(args, log));
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return Errno("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Status::Internal(args[0] + " failed (status " + std::to_string(status) + "):\n" + ReadFile(log));
    }
    return Status::Ok();
  }

  Status StartPostgres() {
    ASSIGN_OR_RETURN(pid_, Spawn({BinDir() + "/postgres", "-D", DataDir(), "-p", std::to_string(port_), "-c",
                                  "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir_.path(), "-c",
                                  "wal_level=logical", "-c", "max_replication_slots=4", "-c", "max_wal_senders=4", "-c",
                                  "fsync=off", "-c", "shared_buffers=16MB"},
                                 dir_.Path("postgres.log")));
    const std::string ping = conninfo();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(ping.c_str()) == PQPING_OK) return Status::Ok();
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Status::Unavailable("postgres exited (status " + std::to_string(status) + "):\n" + Log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Stop();
    return Status::Unavailable("postgres did not accept connections within 60 s:\n" + Log());
  }

  watershed::testing::TempDir dir_;
  std::optional<std::pair<uid_t, gid_t>> run_as_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace watershed::cdc::testing
