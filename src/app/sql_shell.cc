// `watershed sql` with no query on a terminal: an interactive shell on
// libedit (BSD licence; its readline-compatible interface).

#include <editline/readline.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "app/sql_session.h"
#include "core/file_system.h"

namespace watershed::app {
namespace {

constexpr int kHistoryEntries = 1000;

std::string HistoryPath() {
  const char* home = ::getenv("HOME");
  return home && *home ? JoinPath(home, ".watershed_sql_history") : std::string();
}

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1));
}

constexpr const char* kShellHelp =
    "Statements end with ';' and may span lines. Commands:\n"
    "  \\d          the lake's tables (SHOW TABLES)\n"
    "  \\d NAME     a table's columns (DESCRIBE NAME, e.g. \\d eu.events)\n"
    "  \\timing     print each statement's time (toggles)\n"
    "  \\q          quit (also Ctrl-D)\n";

}  // namespace

int RunSqlShell(SqlSession* session) {
  const std::string history = HistoryPath();
  using_history();
  stifle_history(kHistoryEntries);
  if (!history.empty()) read_history(history.c_str());
  std::printf("watershed sql: SQL over the lake (docs/query.md). \\? for help, \\q to quit.\n");
  std::string pending;  // the lines of a statement not yet ended by ';'
  for (;;) {
    char* raw = readline(pending.empty() ? "sql> " : "...> ");
    if (raw == nullptr) {  // Ctrl-D
      std::printf("\n");
      break;
    }
    std::string line(raw);
    ::free(raw);
    const std::string trimmed = Trim(line);
    if (pending.empty() && trimmed.starts_with("\\")) {
      add_history(trimmed.c_str());
      if (trimmed == "\\q") break;
      if (trimmed == "\\?" || trimmed == "\\h") {
        std::printf("%s", kShellHelp);
      } else if (trimmed == "\\timing") {
        session->timing = !session->timing;
        std::printf("Timing is %s.\n", session->timing ? "on" : "off");
      } else if (trimmed == "\\d" || trimmed.starts_with("\\d ")) {
        // SHOW TABLES and DESCRIBE, governed and audited like any statement.
        const std::string name = Trim(trimmed.substr(2));
        session->Run({.text = name.empty() ? "SHOW TABLES" : "DESCRIBE " + name}, "\\d");
      } else {
        std::printf("unknown command %s; \\? lists them\n", trimmed.c_str());
      }
      continue;
    }
    if (trimmed.empty() && pending.empty()) continue;
    pending += line + "\n";
    query::SplitStatements split = query::SplitSql(pending);
    if (split.complete.empty()) continue;
    std::string entry = Trim(pending);
    add_history(entry.c_str());
    for (const query::StatementText& s : split.complete) session->Run(s, "");
    pending = split.rest_blank ? "" : split.rest.text;
  }
  if (!history.empty()) {
    // Queries may be private: the file is 0600 from its creation, never readable by others in between.
    const mode_t old_mask = ::umask(077);
    if (write_history(history.c_str()) == 0) ::chmod(history.c_str(), 0600);
    ::umask(old_mask);
  }
  return 0;
}

}  // namespace watershed::app
