#include "recs/serving_arms.h"

#include <charconv>
#include <cmath>

namespace watershed::recs {

namespace {

constexpr const char* kQuotas[] = {"total", "ann", "content", "coviewed", "trending", "fresh", "popular"};

uint32_t* QuotaOf(CandidateConfig* c, const std::string& name) {
  if (name == "total") return &c->total;
  if (name == "ann") return &c->ann;
  if (name == "content") return &c->content;
  if (name == "coviewed") return &c->coviewed;
  if (name == "trending") return &c->trending;
  if (name == "fresh") return &c->fresh;
  if (name == "popular") return &c->popular;
  return nullptr;
}

std::optional<uint64_t> Integer(const std::string& s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> Number(const std::string& s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

Result<ArmParams> ParseArmParams(const Experiment& e, const Arm& arm) {
  ArmParams p;
  for (const auto& param : arm.params) {
    const std::string& key = param.first;  // named, not bound: clang 14 lambdas cannot capture structured bindings
    const std::string& value = param.second;
    auto bad = [&](const std::string& why) {
      return Status::InvalidArgument("experiment " + e.name + ", arm " + arm.name + ": params." + key + " = " + value +
                                     ": " + why);
    };
    CandidateConfig probe;
    if (QuotaOf(&probe, key) != nullptr) {
      std::optional<uint64_t> v = Integer(value);
      if (!v || *v > 100'000 || (key == "total" && *v == 0))
        return bad(key == "total" ? "must be an integer in 1..100000" : "must be an integer in 0..100000");
      p.quotas[key] = static_cast<uint32_t>(*v);
    } else if (key == "mmr_lambda" || key == "fresh_share") {
      std::optional<double> v = Number(value);
      if (!v || *v < 0 || *v > 1) return bad("must be a number in [0, 1]");
      (key == "mmr_lambda" ? p.mmr_lambda : p.fresh_share) = *v;
    } else if (key == "max_per_author" || key == "max_per_tag") {
      std::optional<uint64_t> v = Integer(value);
      if (!v || *v > 100'000) return bad("must be an integer in 0..100000");
      (key == "max_per_author" ? p.max_per_author : p.max_per_tag) = static_cast<size_t>(*v);
    } else {
      std::string known;
      for (const char* q : kQuotas) known += std::string(q) + ", ";
      return bad("not a serving parameter (" + known + "mmr_lambda, fresh_share, max_per_author, max_per_tag)");
    }
  }
  return p;
}

void ArmParams::ApplyTo(Rules* rules, CandidateConfig* config, std::map<std::string, bool>* taken) const {
  auto first = [&](const std::string& name) { return taken->emplace(name, true).second; };
  for (const auto& [name, value] : quotas)
    if (first(name)) *QuotaOf(config, name) = value;
  if (mmr_lambda && first("mmr_lambda")) rules->mmr_lambda = *mmr_lambda;
  if (fresh_share && first("fresh_share")) rules->fresh_share = *fresh_share;
  if (max_per_author && first("max_per_author")) rules->max_per_author = *max_per_author;
  if (max_per_tag && first("max_per_tag")) rules->max_per_tag = *max_per_tag;
}

Status ExposureSink::Append(const Exposure& e) {
  std::lock_guard lock(mu_);
  Log& log = logs_[e.experiment];
  if (log.writer == nullptr) {
    auto w = ExposureWriter::Open(fs_, dir_, e.experiment);
    if (!w.ok()) {
      logs_.erase(e.experiment);
      return Status(w.status().code(), "exposure log of " + e.experiment + ": " + w.status().message());
    }
    log.writer = std::move(w).value();
  }
  RETURN_IF_ERROR(log.writer->Append(e));
  log.dirty = true;
  ++appended_;
  return Status::Ok();
}

Status ExposureSink::Sync() {
  std::lock_guard lock(mu_);
  for (auto& [name, log] : logs_) {
    if (!log.dirty) continue;
    RETURN_IF_ERROR(log.writer->Sync());
    log.dirty = false;
  }
  return Status::Ok();
}

uint64_t ExposureSink::appended() const {
  std::lock_guard lock(mu_);
  return appended_;
}

}  // namespace watershed::recs
