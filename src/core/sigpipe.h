#pragma once
// Writing to a pipe or socket whose reader is gone raises SIGPIPE, which
// kills a process that did not ignore it (tests, tools). Code that may do
// so on the calling thread blocks it for a scope: the write then fails with
// EPIPE, and a SIGPIPE left pending is dropped when the scope ends.

#include <signal.h>
#include <time.h>

namespace watershed {

class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedSigpipeBlock() {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_, old_;
};

}  // namespace watershed
