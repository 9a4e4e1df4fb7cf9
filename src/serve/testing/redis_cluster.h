#pragma once
// Tests only: a throwaway Redis Cluster of real redis-server processes on
// loopback. Start() launches masters * (1 + replicas_per_master) servers in a
// fresh temp dir (cluster mode, no persistence, small cluster-node-timeout so
// failovers are quick), joins them with `redis-cli --cluster create`, and
// waits until every node reports cluster_state:ok, knows every other node,
// and every replica's link to its master is up.
//
// Every process is killed by pid (SIGKILL, then reaped) in the destructor,
// also when a test fails half way; the children also get SIGKILL if the test
// process dies (PR_SET_PDEATHSIG), so nothing outlives the test.
//
// Not thread-safe. Needs redis-server and redis-cli (7.x) on PATH.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/testing/temp_dir.h"
#include "serve/redis_client.h"
#include "serve/redis_connection.h"

namespace watershed::testing {

class LocalRedisCluster {
 public:
  struct Options {
    int masters = 3;
    int replicas_per_master = 1;
    int node_timeout_ms = 1000;
    std::chrono::seconds startup_timeout{60};
  };

  static Result<std::unique_ptr<LocalRedisCluster>> Start(Options options) {
    if (options.masters < 3) return Status::InvalidArgument("redis-cli --cluster create needs 3 masters");
    std::unique_ptr<LocalRedisCluster> cluster(new LocalRedisCluster());
    Status s = cluster->Launch(options);
    if (!s.ok()) return s;  // the destructor kills whatever was started
    return cluster;
  }

  ~LocalRedisCluster() {
    for (size_t i = 0; i < pids_.size(); ++i) Kill(i);
  }
  LocalRedisCluster(const LocalRedisCluster&) = delete;
  LocalRedisCluster& operator=(const LocalRedisCluster&) = delete;

  size_t size() const { return ports_.size(); }
  int port(size_t i) const { return ports_[i]; }
  pid_t pid(size_t i) const { return pids_[i]; }
  bool alive(size_t i) const { return pids_[i] > 0; }
  std::string Address(size_t i) const { return "127.0.0.1:" + std::to_string(ports_[i]); }
  std::vector<std::string> Seeds() const {
    std::vector<std::string> seeds;
    for (size_t i = 0; i < size(); ++i) seeds.push_back(Address(i));
    return seeds;
  }
  // Index of the node listening on `address` ("127.0.0.1:P"), or size().
  size_t IndexOf(const std::string& address) const {
    for (size_t i = 0; i < size(); ++i) {
      if (Address(i) == address) return i;
    }
    return size();
  }

  // kill -9 node i by pid and reap it. Idempotent.
  void Kill(size_t i) {
    if (pids_[i] <= 0) return;
    ::kill(pids_[i], SIGKILL);
    int status = 0;
    ::waitpid(pids_[i], &status, 0);
    pids_[i] = -1;
  }

  // One command on a fresh connection to node i.
  Result<serve::RedisReply> Command(size_t i, const std::vector<std::string>& args) const {
    ASSIGN_OR_RETURN(auto conn, serve::RedisConnection::Open("127.0.0.1", ports_[i], 2000, 10'000));
    RETURN_IF_ERROR(conn->Append(args));
    return conn->Read();
  }

  // The text reply of a command (CLUSTER INFO, INFO, CLUSTER MYID, ...), ""
  // on any failure.
  std::string Text(size_t i, const std::vector<std::string>& args) const {
    Result<serve::RedisReply> r = Command(i, args);
    return r.ok() ? r->str : std::string();
  }

  std::string NodeId(size_t i) const { return Text(i, {"CLUSTER", "MYID"}); }

  // The node that owns `slot` according to live node `asked` (CLUSTER SLOTS),
  // or size() if it does not know.
  size_t OwnerOf(uint16_t slot, size_t asked) const {
    Result<serve::RedisReply> r = Command(asked, {"CLUSTER", "SLOTS"});
    if (!r.ok()) return size();
    for (const serve::RedisReply& e : r->elements) {
      if (e.elements.size() < 3 || e.elements[2].elements.size() < 2) continue;
      if (e.elements[0].integer <= slot && slot <= e.elements[1].integer) {
        return IndexOf(e.elements[2].elements[0].str + ":" + std::to_string(e.elements[2].elements[1].integer));
      }
    }
    return size();
  }

  // A live replica of master node i, or size().
  size_t ReplicaOf(size_t master) const {
    std::string needle = "master_port:" + std::to_string(ports_[master]) + "\r\n";
    for (size_t i = 0; i < size(); ++i) {
      if (i != master && alive(i) && Text(i, {"INFO", "replication"}).find(needle) != std::string::npos) return i;
    }
    return size();
  }

  // Polls `done` every 50 ms until it holds or `timeout` passes (a guard
  // against hangs, not a performance expectation).
  static bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

 private:
  LocalRedisCluster() : dir_("redis_cluster") {}

  static bool PortFree(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }

  // A port P with P and its cluster bus port P + 10000 free.
  int PickPort(std::mt19937& rng, const std::set<int>& taken) {
    std::uniform_int_distribution<int> dist(20000, 44999);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      int p = dist(rng);
      if (taken.count(p) == 0 && taken.count(p + 10000) == 0 && taken.count(p - 10000) == 0 && PortFree(p) &&
          PortFree(p + 10000)) {
        return p;
      }
    }
    return 0;
  }

  // fork + exec with stdout/stderr to `log`; the child dies with the parent.
  static pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const char* log_path = log.c_str();
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      int fd = ::open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }

  std::string LogTail(const std::string& path) const {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 1500 ? s.substr(s.size() - 1500) : s;
  }

  Status Launch(const Options& options) {
    const size_t n = static_cast<size_t>(options.masters * (1 + options.replicas_per_master));
    std::mt19937 rng(static_cast<uint32_t>(::getpid()) ^
                     static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::set<int> taken;
    for (size_t i = 0; i < n; ++i) {
      int p = PickPort(rng, taken);
      if (p == 0) return Status::Unavailable("no free port pair");
      taken.insert(p);
      std::string ps = std::to_string(p);
      ports_.push_back(p);
      pids_.push_back(Spawn({"redis-server", "--port", ps, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                             "--cluster-config-file", dir_.Path("nodes-" + ps + ".conf"), "--cluster-node-timeout",
                             std::to_string(options.node_timeout_ms), "--cluster-replica-validity-factor", "0",
                             "--repl-ping-replica-period", "1", "--save", "", "--appendonly", "no", "--dir",
                             dir_.path(), "--daemonize", "no"},
                            dir_.Path("redis-" + ps + ".log")));
      if (pids_.back() < 0) return Status::Internal("fork failed");
    }
    auto deadline = options.startup_timeout;
    for (size_t i = 0; i < n; ++i) {
      bool up = WaitUntil(
          [&] {
            if (ExitedEarly(i)) return true;
            Result<serve::RedisReply> r = Command(i, {"PING"});
            return r.ok() && r->str == "PONG";
          },
          deadline);
      if (!up || !alive(i)) {
        return Status::Unavailable("redis-server on " + Address(i) + " did not start: " +
                                   LogTail(dir_.Path("redis-" + std::to_string(ports_[i]) + ".log")));
      }
    }

    std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
    for (size_t i = 0; i < n; ++i) create.push_back(Address(i));
    create.insert(create.end(), {"--cluster-replicas", std::to_string(options.replicas_per_master), "--cluster-yes"});
    std::string create_log = dir_.Path("cluster-create.log");
    pid_t cli = Spawn(create, create_log);
    int status = 0;
    if (cli < 0 || ::waitpid(cli, &status, 0) != cli || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Status::Unavailable("redis-cli --cluster create failed: " + LogTail(create_log));
    }

    const std::string known = "cluster_known_nodes:" + std::to_string(n) + "\r\n";
    for (size_t i = 0; i < n; ++i) {
      bool ready = WaitUntil(
          [&] {
            std::string info = Text(i, {"CLUSTER", "INFO"});
            if (info.find("cluster_state:ok") == std::string::npos || info.find(known) == std::string::npos) {
              return false;
            }
            const int replicas = options.masters * options.replicas_per_master;
            if (ReplicasKnownBy(i) != replicas || ReplicasInSlotsOf(i) != replicas) return false;
            std::string repl = Text(i, {"INFO", "replication"});
            return repl.find("role:slave") == std::string::npos ||
                   repl.find("master_link_status:up") != std::string::npos;
          },
          deadline);
      if (!ready) return Status::Unavailable("cluster not ready on " + Address(i) + ": " + Text(i, {"CLUSTER", "INFO"}));
    }
    return Status::Ok();
  }

  // How many nodes node i's CLUSTER NODES lists as a replica of some master
  // (the role spreads by gossip, after the replication link is up).
  int ReplicasKnownBy(size_t i) const {
    std::istringstream lines(Text(i, {"CLUSTER", "NODES"}));
    std::string line;
    int replicas = 0;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string id, addr, flags, master;
      fields >> id >> addr >> flags >> master;
      if (flags.find("slave") != std::string::npos && master != "-") ++replicas;
    }
    return replicas;
  }

  // How many replicas node i's CLUSTER SLOTS lists. Redis leaves out a
  // replica whose replication offset is still 0 (hence the short
  // repl-ping-replica-period, which moves the offset without writes).
  int ReplicasInSlotsOf(size_t i) const {
    Result<serve::RedisReply> r = Command(i, {"CLUSTER", "SLOTS"});
    if (!r.ok()) return -1;
    int replicas = 0;
    for (const serve::RedisReply& e : r->elements) {
      if (e.elements.size() > 3) replicas += static_cast<int>(e.elements.size() - 3);
    }
    return replicas;
  }

  // True (and marks the node dead) if node i's process has already exited.
  bool ExitedEarly(size_t i) {
    int status = 0;
    if (pids_[i] > 0 && ::waitpid(pids_[i], &status, WNOHANG) == pids_[i]) {
      pids_[i] = -1;
      return true;
    }
    return false;
  }

  TempDir dir_;  // declared first: destroyed after the processes are killed
  std::vector<int> ports_;
  std::vector<pid_t> pids_;
};

}  // namespace watershed::testing
