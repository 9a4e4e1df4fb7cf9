// The exec key provider (key_provider.h): a command wraps and unwraps data
// keys, e.g. a cloud KMS CLI behind a small script.

#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "core/hex.h"
#include "core/sigpipe.h"
#include "keys/key_provider.h"
#include "keys/text.h"

extern char** environ;

namespace watershed::keys {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;
constexpr size_t kMaxBlobBytes = 8 * 1024;  // hex: 16 KiB + newline < the 64 KiB of a pipe

// The command's stderr as quoted in errors, with runs of 32 or more hex
// digits masked: a script that echoes its input (set -x) must not put a
// data key into the server's log.
std::string Quoted(std::string text) {
  text = text.substr(0, 500);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && std::isxdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j - i >= 32) {
      out += "<hex>";
    } else {
      out.append(text, i, std::max(j, i + 1) - i);
    }
    i = std::max(j, i + 1);
  }
  return out;
}

struct Output {
  int exit_code = -1;
  std::string out, err;
};

// Runs /bin/sh -c "<command> <args>" with `input` on stdin; bounded output
// and time. Arguments are our own (verbs, region, validated key ids).
Result<Output> Run(const std::string& command, const std::string& args, std::string input, int timeout_ms) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Status::IoError("pipe failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return Status::IoError("pipe failed");
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    return Status::IoError("pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  const std::string line = command + " " + args;
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  // The command starts with default signal handling (serve blocks SIGTERM
  // and friends, ignores SIGPIPE) in a process group of its own, so a
  // timeout kills the shell and whatever it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char**>(argv), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  auto close_all = [&] { ::close(in[1]), ::close(out[0]), ::close(err[0]); };
  if (rc != 0) {
    close_all();
    return Status::IoError("cannot run key command: " + std::string(strerror(rc)));
  }
  // The input is small (a key, or a blob of at most kMaxBlobBytes as hex):
  // it fits the pipe's 64 KiB buffer, so one write never blocks. A command
  // that exits without reading must not kill us with SIGPIPE.
  ssize_t w = 0;
  {
    ScopedSigpipeBlock no_sigpipe;
    w = ::write(in[1], input.data(), input.size());
  }
  OPENSSL_cleanse(input.data(), input.size());
  ::close(in[1]);
  in[1] = -1;
  Output o;
  bool timed_out = false, too_big = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      timed_out = true;  // cannot wait on it any more: kill it below
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        fds[i].fd = -1, --open_fds;
        continue;
      }
      std::string& dst = i == 0 ? o.out : o.err;
      if (dst.size() + static_cast<size_t>(n) > kMaxOutput)
        too_big = true;
      else
        dst.append(buf, static_cast<size_t>(n));
    }
    if (too_big) break;
  }
  if (timed_out || too_big) ::kill(-pid, SIGKILL);  // its whole process group
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  ::close(out[0]), ::close(err[0]);
  if (timed_out) return Status::Unavailable("key command timed out after " + std::to_string(timeout_ms) + " ms");
  if (too_big) return Status::Corruption("key command wrote more than 64 KiB");
  o.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (o.exit_code == 0 && w != static_cast<ssize_t>(input.size()))
    return Status::IoError("key command exited without reading its input");
  return o;
}

class ExecKeyProvider final : public KeyProvider {
 public:
  ExecKeyProvider(std::string command, std::string region, int timeout_ms)
      : command_(std::move(command)), region_(std::move(region)), timeout_ms_(timeout_ms) {}
  const std::string& region() const override { return region_; }

  Result<WrappedKey> Wrap(const SecretKey& data_key) override {
    ASSIGN_OR_RETURN(Output o, Call("wrap " + region_, LowerHex(data_key.data(), kKeyBytes) + "\n"));
    const std::string line = Trimmed(o.out);
    const size_t space = line.find(' ');
    auto blob = space == std::string::npos ? std::nullopt : FromHex(line.substr(space + 1));
    WrappedKey w{line.substr(0, space), blob ? *blob : ""};
    if (!blob || blob->empty() || !ValidKeyId(w.key_id))
      return Status::Corruption("key command's wrap answer is not '<key-id> <blob hex>'");
    return w;
  }

  Result<SecretKey> Unwrap(const WrappedKey& w) override {
    if (!ValidKeyId(w.key_id)) return Status::Corruption("bad key id '" + w.key_id + "'");
    // The blob comes from a file's header: bounded, so its hex fits the
    // command's stdin pipe in one write (KMS ciphertexts are a few hundred bytes).
    if (w.blob.size() > kMaxBlobBytes)
      return Status::Corruption("wrapped data key of " + std::to_string(w.blob.size()) + " bytes (at most " +
                                std::to_string(kMaxBlobBytes) + ")");
    ASSIGN_OR_RETURN(Output o,
                     Call("unwrap " + region_ + " " + w.key_id, LowerHex(w.blob.data(), w.blob.size()) + "\n"));
    auto bytes = FromHex(Trimmed(o.out));
    OPENSSL_cleanse(o.out.data(), o.out.size());
    if (!bytes || bytes->size() != kKeyBytes)
      return Status::Corruption("key command's unwrap answer is not 64 hex digits");
    SecretKey key(*bytes);
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return key;
  }

 private:
  Result<Output> Call(const std::string& args, std::string input) {
    ASSIGN_OR_RETURN(Output o, Run(command_, args, std::move(input), timeout_ms_));
    if (o.exit_code != 0)
      return Status::Unavailable("key command '" + command_ + " " + args.substr(0, args.find(' ')) + "' exited with " +
                                 std::to_string(o.exit_code) + ": " + Quoted(Trimmed(o.err)));
    return o;
  }

  std::string command_, region_;
  int timeout_ms_;
};

}  // namespace

std::unique_ptr<KeyProvider> NewExecKeyProvider(const std::string& command, const std::string& region, int timeout_ms) {
  return std::make_unique<ExecKeyProvider>(command, region, timeout_ms);
}

}  // namespace watershed::keys
