#pragma once
// Tests only: a GoogleTest fixture with a throwaway PostgreSQL
// (pg_test_server.h) and a normal connection to it. Skips the test when the
// PostgreSQL binaries are not installed.

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>

#include "cdc/testing/pg_test_server.h"

namespace watershed::cdc::testing {

class PgFixture : public ::testing::Test {
 protected:
  // Derived fixtures call this first and return when IsSkipped() or HasFatalFailure().
  void SetUp() override {
    if (!PgTestServer::Available()) {
      GTEST_SKIP() << "PostgreSQL binaries not installed in " << PgTestServer::BinDir()
                   << " (apt-get install postgresql)";
    }
    Status s = server_.Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    conn_ = PQconnectdb(server_.conninfo().c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
  }
  void TearDown() override {
    if (conn_ != nullptr) PQfinish(conn_);
  }

  void Sql(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQresultErrorMessage(res);
    PQclear(res);
  }
  // The single value of a query that returns one row.
  std::string Value(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    std::string out = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << sql << ": " << PQresultErrorMessage(res);
    PQclear(res);
    return out;
  }

  PgTestServer server_;
  PGconn* conn_ = nullptr;
};

}  // namespace watershed::cdc::testing
