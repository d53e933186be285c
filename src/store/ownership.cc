#include "store/ownership.h"

#include "sandbox.pb.h"

namespace agentfense::store {

std::optional<std::string> Ownership::text(const char* sql, const std::string& id) {
  auto guard = db_.lock();
  Statement query(db_, sql);
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return query.column_text(0);
}

std::int64_t Ownership::number(const char* sql, const std::string& principal) {
  auto guard = db_.lock();
  Statement query(db_, sql);
  query.bind(1, principal);
  return query.step() ? query.column_int64(0) : 0;
}

void Ownership::charge(const char* sql, const std::string& id, const std::string& principal) {
  auto guard = db_.lock();
  Statement(db_, sql).bind(1, principal).bind(2, id).run();
}

std::optional<std::string> Ownership::remembered_owner(char kind, const std::string& id,
                                                       const char* sql) {
  const std::string key = kind + id;
  {
    const std::lock_guard lock(mutex_);
    if (const auto it = owners_.find(key); it != owners_.end()) return it->second;
  }
  std::optional<std::string> owner = text(sql, id);
  if (owner) {
    const std::lock_guard lock(mutex_);
    if (owners_.size() >= kMaxRemembered) owners_.clear();  // simply start over
    owners_.emplace(key, *owner);
  }
  return owner;
}

void Ownership::forget(const std::string& id) {
  const std::lock_guard lock(mutex_);
  for (const char kind : {'c', 's', 'e'}) owners_.erase(kind + id);
}

std::optional<std::string> Ownership::codebase_owner(const std::string& codebase_id) {
  return remembered_owner('c', codebase_id, "SELECT owner_id FROM codebases WHERE id = ?");
}

std::optional<std::string> Ownership::sandbox_owner(const std::string& sandbox_id) {
  return remembered_owner('s', sandbox_id,
                          "SELECT c.owner_id FROM sandboxes s JOIN codebases c"
                          " ON c.id = s.codebase_id WHERE s.id = ?");
}

std::optional<std::string> Ownership::session_owner(const std::string& session_id) {
  return remembered_owner(
      'e', session_id,
      "SELECT c.owner_id FROM sessions e JOIN sandboxes s ON s.id = e.sandbox_id"
      " JOIN codebases c ON c.id = s.codebase_id WHERE e.id = ?");
}

void Ownership::charge_codebase(const std::string& codebase_id, const std::string& principal) {
  charge("UPDATE codebases SET principal = ? WHERE id = ?", codebase_id, principal);
}

void Ownership::charge_sandbox(const std::string& sandbox_id, const std::string& principal) {
  charge("UPDATE sandboxes SET principal = ? WHERE id = ?", sandbox_id, principal);
}

void Ownership::charge_session(const std::string& session_id, const std::string& principal) {
  charge("UPDATE sessions SET principal = ? WHERE id = ?", session_id, principal);
}

std::string Ownership::codebase_charge(const std::string& codebase_id) {
  return text("SELECT principal FROM codebases WHERE id = ?", codebase_id).value_or("");
}

std::string Ownership::sandbox_charge(const std::string& sandbox_id) {
  return text("SELECT principal FROM sandboxes WHERE id = ?", sandbox_id).value_or("");
}

std::int64_t Ownership::codebases_of(const std::string& principal) {
  return number("SELECT COUNT(*) FROM codebases WHERE principal = ?", principal);
}

std::int64_t Ownership::stored_bytes_of(const std::string& principal) {
  return number("SELECT COALESCE(SUM(charged), 0) FROM codebases WHERE principal = ?", principal);
}

std::int64_t Ownership::running_sandboxes_of(const std::string& principal) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT COUNT(*) FROM sandboxes WHERE principal = ? AND status = ?");
  query.bind(1, principal).bind(2, static_cast<int64_t>(::sandbox::v1::SANDBOX_STATUS_RUNNING));
  return query.step() ? query.column_int64(0) : 0;
}

std::vector<std::int64_t> Ownership::sandbox_disk_quotas_of(const std::string& principal) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT proto FROM sandboxes WHERE principal = ?");
  query.bind(1, principal);
  std::vector<std::int64_t> quotas;
  while (query.step()) {
    ::sandbox::v1::Sandbox sandbox;
    // An unreadable record counts as 0 (the server's sandbox.disk_bytes); loading it
    // anywhere else reports it.
    if (!sandbox.ParseFromString(query.column_blob(0))) sandbox.Clear();
    quotas.push_back(sandbox.resources().disk_bytes());
  }
  return quotas;
}

std::int64_t Ownership::open_sessions_of(const std::string& principal) {
  auto guard = db_.lock();
  Statement query(db_, "SELECT COUNT(*) FROM sessions WHERE principal = ? AND status = ?");
  query.bind(1, principal).bind(2, static_cast<int64_t>(::sandbox::v1::SESSION_STATUS_ACTIVE));
  return query.step() ? query.column_int64(0) : 0;
}

}  // namespace agentfense::store
