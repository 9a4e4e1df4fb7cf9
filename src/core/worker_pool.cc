#include "core/worker_pool.h"

namespace watershed {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    start_.notify_all();
  }
  for (auto& t : threads_) t.join();
}

void WorkerPool::Drain(std::unique_lock<std::mutex>& lock) {
  while (job_ != nullptr && next_ < count_) {
    size_t i = next_++;
    const auto* job = job_;
    lock.unlock();
    (*job)(i);
    lock.lock();
    if (++finished_ == count_) done_.notify_all();
  }
}

void WorkerPool::Work() {
  std::unique_lock lock(mu_);
  uint64_t seen = 0;
  for (;;) {
    start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    Drain(lock);
  }
}

void WorkerPool::Run(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  std::unique_lock lock(mu_);
  job_ = &fn;
  next_ = 0;
  count_ = n;
  finished_ = 0;
  ++generation_;
  start_.notify_all();
  Drain(lock);
  done_.wait(lock, [&] { return finished_ == count_; });
  job_ = nullptr;
}

}  // namespace watershed
