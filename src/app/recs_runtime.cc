#include "app/recs_runtime.h"

#include <cstdio>

namespace watershed::app {

Result<std::unique_ptr<RecsRuntime>> RecsRuntime::Start(const RecsServeSettings& settings, FileSystem* fs,
                                                        const recs::FeatureStore* store, MetricsRegistry* metrics,
                                                        Clock* clock) {
  std::unique_ptr<RecsRuntime> r(new RecsRuntime());
  r->settings_ = settings;
  r->clock_ = clock;
  auto named = [&](const Status& s) { return Status(s.code(), "recs-model " + settings.model + ": " + s.message()); };
  if (!settings.rules_path.empty()) {
    auto rules = recs::RulesHolder::Open(fs, settings.rules_path);
    if (!rules.ok()) return Status(rules.status().code(), "recs-rules: " + rules.status().message());
    r->rules_ = std::move(rules).value();
  }
  recs::RecsServiceOptions options;
  options.registry_root = settings.registry_root;
  options.model = settings.model;
  auto service = recs::RecsService::Open(fs, options, store, r->rules_.get(), clock->NowMs());
  if (!service.ok()) return named(service.status());
  r->service_ = std::move(service).value();
  std::fprintf(stderr, "watershed: recommendations: serving %s\n", r->service_->Served().c_str());
  recs::RecsService* s = r->service_.get();
  metrics->AddGauge("watershed_recs_model_version", "The model version GET /v1/users/{id}/recommendations serves", [s] {
    const std::string served = s->Served();
    return std::stod(served.substr(served.rfind('@') + 1));
  });
  r->thread_ = std::thread([raw = r.get()] { raw->Run(); });
  return r;
}

RecsRuntime::~RecsRuntime() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RecsRuntime::Run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(settings_.refresh_ms), [this] { return stop_; })) {
    lock.unlock();
    std::string error;
    if (rules_) {
      if (auto changed = rules_->Refresh(); !changed.ok()) error = "recs-rules: " + changed.status().message();
    }
    const std::string before = service_->Served();
    if (auto swapped = service_->Refresh(clock_->NowMs()); !swapped.ok()) {
      error += (error.empty() ? "" : "; ") + std::string("recs-model: ") + swapped.status().message() +
               " (still serving " + before + ")";
    } else if (service_->Served() != before) {
      std::fprintf(stderr, "watershed: recommendations: serving %s (was %s)\n", service_->Served().c_str(),
                   before.c_str());
    }
    lock.lock();
    if (error != last_error_ && !error.empty()) std::fprintf(stderr, "watershed: %s\n", error.c_str());
    last_error_ = error;
  }
}

Result<std::string> RecsRuntime::Answer(uint64_t user, std::optional<Region> region, uint32_t k, bool explain) const {
  const uint8_t r = region ? static_cast<uint8_t>(*region) : recs::kAllRegions;
  ASSIGN_OR_RETURN(recs::Recommendations answer, service_->Recommend(user, r, k, clock_->NowMs()));
  return recs::RecommendationsJson(answer, explain);
}

}  // namespace watershed::app
