#include "app/sql_session.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "app/flags.h"
#include "query/result_format.h"
#include "query/run.h"

namespace watershed::app {

SqlSession::SqlSession(FileSystem* fs, std::string root, Region region, SqlFormat format, std::FILE* out)
    : fs_(fs), root_(std::move(root)), region_(region), format_(format), out_(out), catalog_(fs_, root_, region_) {}

void SqlSession::Govern(const query::AccessControl* access, gov::AuditLog* audit, gov::AuditRecord audit_caller) {
  catalog_.set_access(access);
  audit_ = audit;
  audit_caller_ = std::move(audit_caller);
}

int SqlSession::Report(const Status& s, std::string_view where) {
  const StatusCode code = s.code();
  const int exit_code =
      code == StatusCode::kInvalidArgument || code == StatusCode::kTooLarge || code == StatusCode::kPermissionDenied
          ? 2
          : 1;
  std::fflush(out_);
  return Fail("sql", where.empty() ? s.message() : std::string(where) + ":" + s.message(), exit_code);
}

int SqlSession::Run(const query::StatementText& statement, std::string_view where) {
  const auto start = std::chrono::steady_clock::now();
  const auto arrived = std::chrono::system_clock::now();
  query::ExecLimits limits;
  limits.threads = threads;
  catalog_.ResetTouched();
  auto out = query::RunSql(statement.Positioned(), catalog_, limits);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (audit_) {
    // Before anything is printed: no audit record, no answer (fail closed).
    gov::AuditRecord r = audit_caller_;
    r.time_us = std::chrono::duration_cast<std::chrono::microseconds>(arrived.time_since_epoch()).count();
    r.sql = std::string(statement.text);
    for (const std::string& t : catalog_.touched()) r.tables += (r.tables.empty() ? "" : ",") + t;
    r.rows = out.ok() && !out->explain ? static_cast<int64_t>(out->result.rows.size()) : 0;
    r.verdict = out.ok() ? "allowed" : out.status().code() == StatusCode::kPermissionDenied ? "refused" : "failed";
    r.reason = out.ok() ? "" : out.status().message();
    r.duration_ms = static_cast<int64_t>(ms);
    if (Status s = audit_->Append(r); !s.ok())
      return Report(
          Status::IoError("the statement's audit record could not be written, so it is not answered: " + s.message()),
          where);
  }
  if (!out.ok()) return Report(out.status(), where);
  std::string text;
  if (out->explain) {
    text = out->plan_text;
  } else if (format_ == SqlFormat::kTable) {
    text = query::FormatTable(out->result);
  } else if (format_ == SqlFormat::kCsv) {
    query::AppendCsvHeader(out->result, &text);
    for (size_t i = 0; i < out->result.rows.size(); ++i) {
      query::AppendCsvRow(out->result, i, &text);
      if (text.size() >= (64 << 10)) {
        std::fwrite(text.data(), 1, text.size(), out_);
        text.clear();
      }
    }
  } else {
    const int64_t rows = static_cast<int64_t>(out->result.rows.size());
    query::JsonResultWriter writer(std::make_shared<const query::QueryResult>(std::move(out->result)), rows, ms);
    while (writer.Next(&text)) {
      std::fwrite(text.data(), 1, text.size(), out_);
      text.clear();
    }
  }
  std::fwrite(text.data(), 1, text.size(), out_);
  if (timing) std::fprintf(out_, "Time: %.3f ms\n", ms);
  std::fflush(out_);
  return 0;
}

int SqlSession::RunAll(std::string_view text, std::string_view where) {
  query::SplitStatements split = query::SplitSql(text);
  if (!split.rest_blank) split.complete.push_back(split.rest);
  for (const query::StatementText& s : split.complete)
    if (int code = Run(s, where); code != 0) return code;
  return 0;
}

}  // namespace watershed::app
