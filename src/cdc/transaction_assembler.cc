#include "cdc/transaction_assembler.h"

#include <ostream>
#include <utility>

namespace watershed::cdc {

std::string_view ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kSnapshot:
      return "snapshot";
    case ChangeOp::kInsert:
      return "insert";
    case ChangeOp::kUpdate:
      return "update";
    case ChangeOp::kDelete:
      return "delete";
    case ChangeOp::kTruncate:
      return "truncate";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const Position& p) {
  return os << "(" << p.commit_lsn << ", " << p.index << ")";
}

RelationCache::Outcome RelationCache::Apply(Relation relation, std::shared_ptr<const Relation>* previous) {
  auto it = relations_.find(relation.relation_id);
  if (it == relations_.end()) {
    uint32_t id = relation.relation_id;
    relations_.emplace(id, std::make_shared<const Relation>(std::move(relation)));
    return Outcome::kNew;
  }
  if (*it->second == relation) return Outcome::kUnchanged;
  bool columns_changed = it->second->columns != relation.columns;
  if (previous != nullptr) *previous = it->second;
  it->second = std::make_shared<const Relation>(std::move(relation));
  return columns_changed ? Outcome::kColumnsChanged : Outcome::kOtherChanged;
}

std::shared_ptr<const Relation> RelationCache::Find(uint32_t relation_id) const {
  auto it = relations_.find(relation_id);
  return it == relations_.end() ? nullptr : it->second;
}

Result<std::vector<ColumnValue>> TransactionAssembler::Values(const Relation& relation, const TupleData& tuple,
                                                              bool key_only) {
  if (tuple.size() != relation.columns.size()) {
    return Status::Corruption("pgoutput: a tuple of " + relation.QualifiedName() + " has " +
                              std::to_string(tuple.size()) + " columns, its Relation message " +
                              std::to_string(relation.columns.size()));
  }
  std::vector<ColumnValue> out;
  out.reserve(tuple.size());
  for (size_t i = 0; i < tuple.size(); ++i) {
    const RelationColumn& column = relation.columns[i];
    if (key_only && !column.key) continue;
    out.push_back(ColumnValue{column.name, column.type_oid, tuple[i].kind, tuple[i].text});
    open_bytes_ += column.name.size() + tuple[i].text.size() + sizeof(ColumnValue);
  }
  return out;
}

Result<Change> TransactionAssembler::RowChange(ChangeOp op, uint32_t relation_id) {
  if (!open_) {
    return Status::Corruption("pgoutput: " + std::string(ChangeOpName(op)) + " outside a transaction");
  }
  std::shared_ptr<const Relation> schema = relations_.Find(relation_id);
  if (schema == nullptr) {
    return Status::Corruption("pgoutput: " + std::string(ChangeOpName(op)) + " of relation " +
                              std::to_string(relation_id) + ", which no Relation message described");
  }
  Change change;
  change.op = op;
  change.relation_id = relation_id;
  change.relation = schema->QualifiedName();
  change.schema = std::move(schema);
  return change;
}

Status TransactionAssembler::AddRow(ChangeOp op, uint32_t relation_id, OldTupleKind old_kind,
                                    const TupleData& old_tuple, const TupleData* new_tuple) {
  ASSIGN_OR_RETURN(Change change, RowChange(op, relation_id));
  change.before_kind = old_kind;
  if (old_kind != OldTupleKind::kNone) {
    ASSIGN_OR_RETURN(change.before, Values(*change.schema, old_tuple, old_kind == OldTupleKind::kKey));
  }
  if (new_tuple != nullptr) {
    ASSIGN_OR_RETURN(change.after, Values(*change.schema, *new_tuple, false));
  }
  return AddChange(std::move(change));
}

Status TransactionAssembler::AddChange(Change change) {
  open_bytes_ += sizeof(Change) + change.relation.size();
  if (open_bytes_ > max_transaction_bytes_) {
    return Status::TooLarge("pgoutput: transaction " + std::to_string(open_->xid) + " buffers more than " +
                            std::to_string(max_transaction_bytes_) + " bytes");
  }
  change.position = Position{open_->commit_lsn, open_->changes.size()};
  open_->changes.push_back(std::move(change));
  return Status::Ok();
}

Result<std::optional<Transaction>> TransactionAssembler::Add(PgOutputMessage message) {
  using Out = std::optional<Transaction>;
  if (auto* m = std::get_if<BeginMessage>(&message)) {
    if (open_) {
      return Status::Corruption("pgoutput: Begin of xid " + std::to_string(m->xid) + " inside xid " +
                                std::to_string(open_->xid));
    }
    open_.emplace();
    open_->xid = m->xid;
    open_->commit_lsn = m->final_lsn;
    open_->commit_time_us = m->commit_time_us;
    open_->schema_changes = std::move(pending_schema_changes_);
    pending_schema_changes_.clear();
    open_bytes_ = 0;
    return Out();
  }
  if (auto* m = std::get_if<CommitMessage>(&message)) {
    if (!open_) return Status::Corruption("pgoutput: Commit outside a transaction");
    if (m->commit_lsn != open_->commit_lsn) {
      return Status::Corruption("pgoutput: Commit LSN " + m->commit_lsn.ToString() + " differs from Begin's " +
                                open_->commit_lsn.ToString());
    }
    if (m->end_lsn < m->commit_lsn) {
      return Status::Corruption("pgoutput: Commit end LSN " + m->end_lsn.ToString() + " precedes its commit LSN " +
                                m->commit_lsn.ToString());
    }
    open_->end_lsn = m->end_lsn;
    open_->commit_time_us = m->commit_time_us;
    Out done = std::move(open_);
    open_.reset();
    return done;
  }
  if (auto* m = std::get_if<OriginMessage>(&message)) {
    if (!open_) return Status::Corruption("pgoutput: Origin outside a transaction");
    open_->origin = std::move(m->name);
    return Out();
  }
  if (auto* m = std::get_if<RelationMessage>(&message)) {
    std::shared_ptr<const Relation> previous;
    uint32_t id = m->relation_id;
    RelationCache::Outcome outcome = relations_.Apply(std::move(*m), &previous);
    if (outcome == RelationCache::Outcome::kColumnsChanged || outcome == RelationCache::Outcome::kOtherChanged) {
      std::vector<SchemaChange>& to = open_ ? open_->schema_changes : pending_schema_changes_;
      to.push_back(SchemaChange{open_ ? open_->changes.size() : 0, std::move(previous), relations_.Find(id),
                                outcome == RelationCache::Outcome::kColumnsChanged});
    }
    return Out();
  }
  if (std::holds_alternative<TypeMessage>(message)) {
    // Names a non-built-in type ahead of its first use; values carry the
    // type OID and arrive in text form, so nothing needs the name.
    return Out();
  }
  if (auto* m = std::get_if<InsertMessage>(&message)) {
    RETURN_IF_ERROR(AddRow(ChangeOp::kInsert, m->relation_id, OldTupleKind::kNone, {}, &m->new_tuple));
    return Out();
  }
  if (auto* m = std::get_if<UpdateMessage>(&message)) {
    RETURN_IF_ERROR(AddRow(ChangeOp::kUpdate, m->relation_id, m->old_kind, m->old_tuple, &m->new_tuple));
    return Out();
  }
  if (auto* m = std::get_if<DeleteMessage>(&message)) {
    RETURN_IF_ERROR(AddRow(ChangeOp::kDelete, m->relation_id, m->old_kind, m->old_tuple, nullptr));
    return Out();
  }
  auto& truncate = std::get<TruncateMessage>(message);
  for (uint32_t id : truncate.relation_ids) {
    ASSIGN_OR_RETURN(Change change, RowChange(ChangeOp::kTruncate, id));
    RETURN_IF_ERROR(AddChange(std::move(change)));
  }
  return Out();
}

}  // namespace watershed::cdc
