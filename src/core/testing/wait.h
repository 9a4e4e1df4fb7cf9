#pragma once
// Tests only: waiting for another thread without guessing a sleep.
//
// WaitUntil polls a predicate until it holds or a deadline passes; the
// deadline only guards against a hang, so give it generously.
//
// A test that asserts another thread is still blocked must first know the
// thread reached the blocking call; otherwise the assertion passes merely
// because the thread has not run yet. CurrentThreadId + ThreadIsAsleep let it
// wait until the thread sleeps in the kernel (a futex, flock, ...) — Linux
// only, it reads /proc/self/task/<tid>/stat.

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace watershed::testing {

// True as soon as pred() holds; false if it still does not after timeout.
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// The kernel's id of the calling thread (for ThreadIsAsleep).
inline pid_t CurrentThreadId() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Whether thread `tid` of this process sleeps in the kernel (state S),
// i.e. waits for something rather than runs.
inline bool ThreadIsAsleep(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  // "tid (comm) S ...": the name may hold spaces and parentheses; the state follows the last ')'.
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S';
}

}  // namespace watershed::testing
