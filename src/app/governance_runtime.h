#pragma once
// Governance in a process (docs/governance.md): the policy loaded and validated at start (`governance-file`;
// any error refuses the start), the region's audit log, and a thread that moves the log into the `audit`
// Iceberg table in batches (the policy's [audit] flush-rows / flush-seconds), with a last flush at shutdown.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/file_system.h"
#include "gov/audit_log.h"
#include "gov/policy.h"

namespace watershed::app {

// Where a region's audit lives: the local log under <data-dir>/audit/<region>, the table under
// <lake root>/<region>/audit.
gov::AuditLogOptions AuditLocation(const std::string& data_dir, const std::string& lake_root,
                                   const std::string& region);

class GovernanceRuntime {
 public:
  // `flusher`: run the batch flush thread (the server); a CLI flushes once when due, itself.
  static Result<std::unique_ptr<GovernanceRuntime>> Start(FileSystem* fs, const std::string& policy_file,
                                                          const std::string& data_dir, const std::string& lake_root,
                                                          const std::string& region, bool flusher);
  ~GovernanceRuntime();  // stops the thread, then flushes what is left
  const gov::Policy& policy() const { return policy_; }
  gov::AuditLog* audit() const { return audit_.get(); }

 private:
  GovernanceRuntime() = default;
  void FlushLoop();

  gov::Policy policy_;
  std::unique_ptr<gov::AuditLog> audit_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool flusher_ = false;
  std::thread thread_;
};

}  // namespace watershed::app
