#pragma once
// A fixed pool of threads for fork-join work: Run(n, fn) calls fn(0..n-1)
// spread over the pool and the calling thread and returns when every call
// has returned. The log uses it to fdatasync its partitions concurrently
// (the file system merges concurrent syncs into fewer device flushes).
// Run is not reentrant; one caller at a time.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace watershed {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  void Run(size_t n, const std::function<void(size_t)>& fn);

 private:
  void Work();
  // Claims and runs items of the current job until none is left.
  void Drain(std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t next_ = 0, count_ = 0, finished_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace watershed
