#include "query/run.h"

#include "query/catalog_statements.h"
#include "query/parser.h"
#include "query/planner.h"

namespace watershed::query {

Result<SqlOutput> RunSql(std::string_view sql, const Catalog& catalog, const ExecLimits& limits) {
  ASSIGN_OR_RETURN(Statement st, Parse(sql));
  SqlOutput out;
  if (st.kind == StatementKind::kShowTables || st.kind == StatementKind::kDescribe) {
    ASSIGN_OR_RETURN(out.result, RunCatalogStatement(st, catalog));
    return out;
  }
  ASSIGN_OR_RETURN(LogicalPlan plan, PlanSelect(*st.select, catalog));
  if (st.kind == StatementKind::kExplain) {
    out.explain = true;
    out.plan_text = Explain(plan);
    return out;
  }
  ASSIGN_OR_RETURN(out.result, Execute(plan, catalog.fs(), limits));
  return out;
}

}  // namespace watershed::query
