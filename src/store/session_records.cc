#include "store/session_records.h"

#include "common/api_error.h"
#include "store/timestamps.h"

namespace agentfense::store {
namespace {

v1::Session parse_session(const Statement& row) {
  v1::Session out;
  if (!out.ParseFromString(row.column_blob(0))) {
    throw std::runtime_error("corrupt session record in the database");
  }
  return out;
}

}  // namespace

void SessionRecords::put(const v1::Session& session) {
  auto guard = db_.lock();
  try {
    Statement(db_,
              "INSERT INTO sessions (id, sandbox_id, status, created_at, proto)"
              " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
              " sandbox_id = excluded.sandbox_id, status = excluded.status,"
              " created_at = excluded.created_at, proto = excluded.proto")
        .bind(1, session.id())
        .bind(2, session.sandbox_id())
        .bind(3, static_cast<int64_t>(session.status()))
        .bind(4, to_us(session.created_at()))
        .bind_blob(5, session.SerializeAsString())
        .run();
  } catch (const DatabaseError& e) {
    if (e.rc() != SQLITE_CONSTRAINT_FOREIGNKEY) throw;
    throw ApiError(StatusCode::NOT_FOUND, "sandbox " + session.sandbox_id() + " not found",
                   kReasonSandboxNotFound);
  }
}

std::optional<v1::Session> SessionRecords::get(const std::string& id) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT proto FROM sessions WHERE id = ?");
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return parse_session(query);
}

std::vector<v1::Session> SessionRecords::list_for_sandbox(const std::string& sandbox_id) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT proto FROM sessions WHERE sandbox_id = ? ORDER BY created_at, id");
  query.bind(1, sandbox_id);
  std::vector<v1::Session> out;
  while (query.step()) out.push_back(parse_session(query));
  return out;
}

bool SessionRecords::remove(const std::string& id) {
  auto guard = db_.lock();
  Statement(db_, "DELETE FROM sessions WHERE id = ?").bind(1, id).run();
  return sqlite3_changes(db_.handle()) > 0;
}

int64_t SessionRecords::remove_for_sandbox(const std::string& sandbox_id) {
  auto guard = db_.lock();
  Statement(db_, "DELETE FROM sessions WHERE sandbox_id = ?").bind(1, sandbox_id).run();
  return sqlite3_changes(db_.handle());
}

}  // namespace agentfense::store
