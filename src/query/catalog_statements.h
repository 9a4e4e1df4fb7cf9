#pragma once
// SHOW TABLES and DESCRIBE t (docs/query.md): the lake's catalogue as rows.

#include "query/ast.h"
#include "query/catalog.h"
#include "query/executor.h"

namespace watershed::query {

// SHOW TABLES: one row per existing lake table of every region — table
// ("eu.events"), snapshot_id (current; NULL before the first commit),
// records (the snapshot's total-records, NULL when unknown). DESCRIBE t:
// one row per column — column, type, partition (the Iceberg transform
// partitioning by it: "hour", "day", "bucket[16]", "identity"; NULL when
// none). kInvalidArgument "line:col: ..." for an unknown table.
Result<QueryResult> RunCatalogStatement(const Statement& st, const Catalog& catalog);

}  // namespace watershed::query
