#include "store/sandbox_records.h"

#include "common/api_error.h"
#include "store/page_token.h"
#include "store/timestamps.h"

namespace agentfense::store {
namespace {

constexpr const char* kTokenKind = "sb";

v1::Sandbox parse_sandbox(const Statement& row, int column) {
  v1::Sandbox out;
  if (!out.ParseFromString(row.column_blob(column))) {
    throw std::runtime_error("corrupt sandbox record in the database");
  }
  return out;
}

}  // namespace

void SandboxRecords::put(const v1::Sandbox& sandbox) {
  auto guard = db_.lock();
  try {
    Statement(db_,
              "INSERT INTO sandboxes (id, codebase_id, status, created_at, expires_at, proto)"
              " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
              " codebase_id = excluded.codebase_id, status = excluded.status,"
              " created_at = excluded.created_at, expires_at = excluded.expires_at,"
              " proto = excluded.proto")
        .bind(1, sandbox.id())
        .bind(2, sandbox.codebase_id())
        .bind(3, static_cast<int64_t>(sandbox.status()))
        .bind(4, to_us(sandbox.created_at()))
        .bind(5, to_us(sandbox.expires_at()))
        .bind_blob(6, sandbox.SerializeAsString())
        .run();
  } catch (const DatabaseError& e) {
    if (e.rc() != SQLITE_CONSTRAINT_FOREIGNKEY) throw;
    throw ApiError(StatusCode::NOT_FOUND, "codebase " + sandbox.codebase_id() + " not found",
                   kReasonCodebaseNotFound);
  }
}

std::optional<v1::Sandbox> SandboxRecords::get(const std::string& id) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT proto FROM sandboxes WHERE id = ?");
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return parse_sandbox(query, 0);
}

v1::ListSandboxesResponse SandboxRecords::list(const std::string& codebase_id, int page_size,
                                               const std::string& page_token,
                                               const std::vector<std::string>* owners) {
  const int limit = effective_page_size(page_size);
  const std::optional<PageCursor> after = decode_page_token(kTokenKind, page_token);
  auto guard = db_.lock();
  const std::string owned =
      owners ? " AND codebase_id IN (SELECT id FROM codebases WHERE owner_id IN (" +
                   placeholders(5, owners->size()) + "))"
             : "";
  // One extra row tells whether another page exists.
  Statement query(db_,
                  "SELECT proto, created_at, id FROM sandboxes"
                  " WHERE (?1 = '' OR codebase_id = ?1)" +
                      owned +
                      " AND (?2 IS NULL OR (created_at, id) > (?2, ?3))"
                      " ORDER BY created_at, id LIMIT ?4");
  query.bind(1, codebase_id);
  if (owners)
    for (std::size_t i = 0; i < owners->size(); ++i)
      query.bind(static_cast<int>(5 + i), (*owners)[i]);
  if (after) {
    query.bind(2, after->created_at_us).bind(3, after->id);
  } else {
    query.bind_null(2).bind_null(3);
  }
  query.bind(4, static_cast<int64_t>(limit) + 1);
  v1::ListSandboxesResponse out;
  PageCursor last;
  std::size_t bytes = 0;
  while (query.step()) {
    if (out.sandboxes_size() == limit || bytes >= kMaxPageBytes) {
      out.set_next_page_token(encode_page_token(kTokenKind, last));
      break;
    }
    v1::Sandbox& added = *out.add_sandboxes() = parse_sandbox(query, 0);
    bytes += added.ByteSizeLong();
    last = {query.column_int64(1), query.column_text(2)};
  }
  return out;
}

std::vector<v1::Sandbox> SandboxRecords::list_all() {
  auto guard = db_.lock();
  Statement query(db_, "SELECT proto FROM sandboxes ORDER BY created_at, id");
  std::vector<v1::Sandbox> out;
  while (query.step()) out.push_back(parse_sandbox(query, 0));
  return out;
}

bool SandboxRecords::remove(const std::string& id) {
  auto guard = db_.lock();
  Statement(db_, "DELETE FROM sandboxes WHERE id = ?").bind(1, id).run();
  return sqlite3_changes(db_.handle()) > 0;
}

int64_t SandboxRecords::count_for_owner(const std::string& owner_id) {
  auto guard = db_.lock();
  Statement query(db_,
                  "SELECT COUNT(*) FROM sandboxes s JOIN codebases c ON c.id = s.codebase_id"
                  " WHERE c.owner_id = ?");
  query.bind(1, owner_id);
  return query.step() ? query.column_int64(0) : 0;
}

}  // namespace agentfense::store
