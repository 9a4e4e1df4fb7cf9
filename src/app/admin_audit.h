#pragma once
// The audit of admin commands (docs/governance.md "Audit"): with a governance-file, each changing action of
// `watershed lake`, `keys`, `catalog import`, `recs models promote|rollback|gc` and `token` is recorded in the
// region's audit log before it runs — verdict `allowed`, the command line as `sql`, interface `cli`, roles
// `admin`, the OS user in `reason` — fail closed: when the record cannot be written the action does not run.
// An action that then fails adds a record of verdict `failed`. Read-only actions and dry runs are not recorded.

#include <memory>
#include <string>
#include <vector>

#include "app/config.h"
#include "app/governance_runtime.h"
#include "core/status.h"

namespace watershed::app {

class AdminAudit {
 public:
  // The audit log of `region` (empty: the first of the `regions` setting) when `config` names a governance-file;
  // otherwise an audit that records nothing. Errors: the policy's (`file:line:column: ...`).
  static Result<std::unique_ptr<AdminAudit>> Open(const Config& config, const std::string& region = "");

  bool on() const { return governance_ != nullptr; }
  // Before the action: `words` is the command line ("lake", "compact", "--region", "eu"), `what` what it
  // changes ("eu/events", "keys eu"). kUnavailable when the record cannot be written: do not run the action.
  Status Begin(const std::vector<std::string>& words, const std::string& what);
  // After it: `exit_code` as the command returns it; a non-zero one is recorded as failed (with `reason`, or the
  // code). Returns `exit_code`, or 1 when the failure's record cannot be written (reported on stderr).
  int End(int exit_code, const std::string& reason = "");

 private:
  AdminAudit() = default;
  gov::AuditRecord Record(const std::string& verdict, const std::string& reason) const;

  std::unique_ptr<GovernanceRuntime> governance_;  // its destructor flushes the log when a batch is due
  std::string region_, sql_, what_;
  int64_t start_us_ = 0;
  bool begun_ = false;
};

// Begin's refusal as the command's message: "<action> not run: its audit record could not be written: ...".
std::string NotAudited(const Status& s);

}  // namespace watershed::app
