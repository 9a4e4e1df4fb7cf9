#pragma once
// What `watershed sql` does with a statement, whichever way it came (one
// query, -c, -f FILE, stdin, the interactive shell): run it over the lake
// and print the answer in the chosen format, or the error with its
// position (src/query/, docs/query.md).

#include <cstdio>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/file_system.h"
#include "gov/audit_log.h"
#include "query/catalog.h"
#include "query/statements.h"

namespace watershed::app {

enum class SqlFormat { kTable, kCsv, kJson };

class SqlSession {
 public:
  SqlSession(FileSystem* fs, std::string root, Region region, SqlFormat format, std::FILE* out);
  // Runs one statement and prints its answer. Exit code: 0 answered, 2 a
  // query that cannot be answered as written (the message, on stderr, is
  // "watershed sql: [where:]line:column: ..."), 1 a failure while reading.
  int Run(const query::StatementText& statement, std::string_view where);
  // Every statement of `text` in order, stopping at the first that fails.
  int RunAll(std::string_view text, std::string_view where);

  bool timing = false;  // print "Time: N ms" after each answer (\timing)
  int threads = 1;      // scan threads of each query (query-threads)

  // Governance (docs/governance.md; governance-file): each statement is checked against `access` (forbidden:
  // exit 2, "forbidden: table ... rule ...") and audited (`audit`, with the fields of `audit_caller`) before its
  // answer is printed; when the append fails nothing is printed and the exit code is 1. nullptr: neither.
  void Govern(const query::AccessControl* access, gov::AuditLog* audit, gov::AuditRecord audit_caller);

 private:
  int Report(const Status& s, std::string_view where);

  FileSystem* fs_;
  std::string root_;
  Region region_;
  SqlFormat format_;
  std::FILE* out_;
  query::Catalog catalog_;
  gov::AuditLog* audit_ = nullptr;
  gov::AuditRecord audit_caller_;
};

// The interactive shell (sql_shell.cc): libedit line editing, history in
// ~/.watershed_sql_history, statements until ';', \d, \d NAME, \timing, \q.
int RunSqlShell(SqlSession* session);

}  // namespace watershed::app
