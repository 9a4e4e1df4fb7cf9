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

Result<ArmParams> ParseArmParams(const Experiment& e, const Arm& arm, uint32_t max_quota) {
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
      if (!v || *v > max_quota || (key == "total" && *v == 0))
        return bad(std::string("must be an integer in ") + (key == "total" ? "1.." : "0..") +
                   std::to_string(max_quota) + " (the service's candidates per request)");
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

Status ExposureSink::RollBack(const std::string& experiment, Log* log, uint64_t size) {
  log->writer.reset();
  return fs_->Truncate(ExposureLogPath(dir_, experiment), size);
}

Status ExposureSink::Append(const std::vector<Exposure>& exposures) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<const Exposure*, uint64_t>> written;  // this request's, with the log's size before
  Status failed;
  for (const Exposure& e : exposures) {
    Log& log = logs_[e.experiment];
    if (log.writer == nullptr) {
      auto w = ExposureWriter::Open(fs_, dir_, e.experiment);
      if (!w.ok()) {
        failed = Status(w.status().code(), "exposure log of " + e.experiment + ": " + w.status().message());
        break;
      }
      log.writer = std::move(w).value();
    }
    const uint64_t before = log.writer->size();
    if (Status s = log.writer->Append(e); !s.ok()) {
      failed = Status(s.code(), "exposure log of " + e.experiment + ": " + s.message());
      if (Status r = RollBack(e.experiment, &log, before); !r.ok())
        failed = Status(s.code(), failed.message() + " (and truncating it: " + r.message() + ")");
      break;
    }
    written.emplace_back(&e, before);
  }
  if (failed.ok()) {
    for (const auto& w : written) logs_[w.first->experiment].dirty = true;
    appended_ += written.size();
    return Status::Ok();
  }
  for (const auto& [e, before] : written)
    if (Status r = RollBack(e->experiment, &logs_[e->experiment], before); !r.ok())
      failed = Status(failed.code(), failed.message() + "; rolling back " + e->experiment + ": " + r.message());
  return failed;
}

Status ExposureSink::Sync() {
  std::vector<std::pair<std::string, std::shared_ptr<ExposureWriter>>> dirty;
  Status out;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, log] : logs_) {
      if (!log.dirty) continue;
      if (log.writer == nullptr) {  // dropped after a failed write: its earlier exposures still need the fdatasync
        auto w = ExposureWriter::Open(fs_, dir_, name);
        if (!w.ok()) {
          if (out.ok()) out = Status(w.status().code(), "exposure log of " + name + ": " + w.status().message());
          continue;
        }
        log.writer = std::move(w).value();
      }
      dirty.emplace_back(name, log.writer);
      log.dirty = false;
    }
  }
  for (const auto& [name, writer] : dirty) {
    Status s = writer->Sync();
    if (s.ok()) continue;
    {
      std::lock_guard lock(mu_);
      if (auto it = logs_.find(name); it != logs_.end() && it->second.writer == writer) it->second.writer.reset();
    }
    if (out.ok())
      out = Status(s.code(), "exposure log of " + name + ": " + s.message() +
                                 " (its latest exposures may not survive a machine crash)");
  }
  return out;
}

Result<uint64_t> ExposureSink::EraseUser(uint64_t user) {
  std::lock_guard lock(mu_);
  // A dirty log stays dirty: the next Sync reopens it. A Sync running outside the lock may still fdatasync a
  // dropped writer's file — a rewritten log's old inode, harmless.
  for (auto& [name, log] : logs_) log.writer.reset();
  return EraseUserExposures(fs_, dir_, user);
}

uint64_t ExposureSink::appended() const {
  std::lock_guard lock(mu_);
  return appended_;
}

}  // namespace watershed::recs
