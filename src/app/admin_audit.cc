#include "app/admin_audit.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>

#include "core/event.h"
#include "core/file_system.h"

namespace watershed::app {
namespace {

constexpr size_t kMaxCommandLine = 4096;  // a record's `sql`: the command line, cut past this

// "os-user alice (uid 1000)": who ran the command, as the OS knows them.
std::string OsUser() {
  const uid_t uid = ::getuid();
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  std::string name = "?";
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) name = found->pw_name;
  return "os-user " + name + " (uid " + std::to_string(uid) + ")";
}

}  // namespace

Result<std::unique_ptr<AdminAudit>> AdminAudit::Open(const Config& config, const std::string& region) {
  std::unique_ptr<AdminAudit> a(new AdminAudit());
  const std::string policy = config.Get("governance-file");
  if (policy.empty()) return a;
  a->region_ = region;
  if (a->region_.empty()) {
    const std::string& regions = config.Get("regions");
    a->region_ = regions.empty() ? std::string(RegionName(Region::kUs)) : regions.substr(0, regions.find(','));
  }
  const std::string data_dir = config.Get("data-dir");
  const std::string lake_root = config.Get("lake-root").empty() ? JoinPath(data_dir, "lake") : config.Get("lake-root");
  ASSIGN_OR_RETURN(a->governance_, GovernanceRuntime::Start(FileSystem::Default(), policy, data_dir, lake_root,
                                                            a->region_, /*flusher=*/false));
  return a;
}

gov::AuditRecord AdminAudit::Record(const std::string& verdict, const std::string& reason) const {
  gov::AuditRecord r;
  r.time_us = start_us_;
  r.roles = "admin";
  r.region = region_;
  r.interface = "cli";
  r.sql = sql_;
  r.tables = what_;
  r.verdict = verdict;
  r.reason = reason;
  r.duration_ms = verdict == "allowed" ? 0 : (gov::NowUs() - start_us_) / 1000;
  return r;
}

Status AdminAudit::Begin(const std::vector<std::string>& words, const std::string& what) {
  if (!governance_) return Status::Ok();
  sql_ = "watershed";
  for (const std::string& w : words) sql_ += " " + w;
  if (sql_.size() > kMaxCommandLine) sql_ = sql_.substr(0, kMaxCommandLine) + " ...";
  what_ = what;
  start_us_ = gov::NowUs();
  RETURN_IF_ERROR(governance_->audit()->Append(Record("allowed", OsUser())));
  begun_ = true;
  return Status::Ok();
}

int AdminAudit::End(int exit_code, const std::string& reason) {
  if (!governance_ || !begun_ || exit_code == 0) return exit_code;
  const std::string why = OsUser() + ": " + (reason.empty() ? "exit code " + std::to_string(exit_code) : reason);
  if (Status s = governance_->audit()->Append(Record("failed", why)); !s.ok()) {
    std::fprintf(stderr, "watershed: the failure's audit record could not be written: %s\n", s.ToString().c_str());
    return 1;
  }
  return exit_code;
}

std::string NotAudited(const Status& s) {
  return "not run: its audit record could not be written (fail closed): " + s.ToString();
}

}  // namespace watershed::app
