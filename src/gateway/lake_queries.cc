#include "gateway/lake_queries.h"

#include <algorithm>

namespace watershed::gateway {

LakeQueries::LakeQueries(LakeQueryOptions options) : options_(std::move(options)) {
  const int n = std::max(1, options_.max_running);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
}

LakeQueries::~LakeQueries() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

int64_t LakeQueries::admitted() const {
  std::lock_guard lock(count_->mu);
  return count_->admitted;
}

bool LakeQueries::TrySubmit(std::function<void(Slot)> job) {
  {
    std::lock_guard lock(count_->mu);
    if (count_->admitted >= std::max(1, options_.max_running)) return false;
    ++count_->admitted;
  }
  Slot slot(static_cast<void*>(nullptr), [count = count_](void*) {
    std::lock_guard lock(count->mu);
    --count->admitted;
  });
  {
    std::lock_guard lock(mu_);
    jobs_.push_back([job = std::move(job), slot = std::move(slot)]() mutable { job(std::move(slot)); });
  }
  ready_.notify_one();
  return true;
}

void LakeQueries::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and every admitted job has run
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // releases the slot unless the answer still holds it
    lock.lock();
  }
}

}  // namespace watershed::gateway
