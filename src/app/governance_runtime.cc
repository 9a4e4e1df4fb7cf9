#include "app/governance_runtime.h"

#include <chrono>
#include <cstdio>

namespace watershed::app {

gov::AuditLogOptions AuditLocation(const std::string& data_dir, const std::string& lake_root,
                                   const std::string& region) {
  gov::AuditLogOptions o;
  o.dir = JoinPath(JoinPath(data_dir, "audit"), region);
  o.table_location = gov::AuditTableLocation(lake_root, region);
  return o;
}

Result<std::unique_ptr<GovernanceRuntime>> GovernanceRuntime::Start(FileSystem* fs, const std::string& policy_file,
                                                                    const std::string& data_dir,
                                                                    const std::string& lake_root,
                                                                    const std::string& region, bool flusher) {
  std::unique_ptr<GovernanceRuntime> g(new GovernanceRuntime());
  ASSIGN_OR_RETURN(g->policy_, gov::LoadPolicy(fs, policy_file));
  gov::AuditLogOptions o = AuditLocation(data_dir, lake_root, region);
  o.flush_rows = g->policy_.audit.flush_rows;
  o.flush_ms = g->policy_.audit.flush_seconds * 1000;
  auto audit = gov::AuditLog::Open(fs, o);
  if (!audit.ok()) return Status(audit.status().code(), "audit log " + o.dir + ": " + audit.status().message());
  g->audit_ = std::move(*audit);
  g->flusher_ = flusher;
  if (flusher) g->thread_ = std::thread([p = g.get()] { p->FlushLoop(); });
  return g;
}

void GovernanceRuntime::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    if (!audit_->FlushDue(gov::NowUs())) continue;
    lock.unlock();
    // A failed flush loses nothing: the records stay in the local log (fsynced) and the next flush retries.
    if (Status s = audit_->Flush(); !s.ok()) std::fprintf(stderr, "watershed: audit flush: %s\n", s.ToString().c_str());
    lock.lock();
  }
}

GovernanceRuntime::~GovernanceRuntime() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!audit_) return;
  // The server flushes what is left when it stops; a CLI only when a batch is due (its rows wait in the log).
  const int64_t now_us = flusher_ ? INT64_MAX : gov::NowUs();
  if (audit_->FlushDue(now_us))
    if (Status s = audit_->Flush(); !s.ok()) std::fprintf(stderr, "watershed: audit flush: %s\n", s.ToString().c_str());
}

}  // namespace watershed::app
