// Who owns and who pays for the server's resources (the multi-tenant model,
// docs/security.md "Shared server"), as queries over the store's tables:
//
//   - ownership: a codebase belongs to its owner_id; a sandbox to its codebase's owner; a
//     session to its sandbox's. A principal sees a resource when it acts for that owner.
//   - charges: the principal that created a codebase, sandbox or session (recorded with
//     charge_*) is the one whose quotas it counts against.
//
// Lookups answer nullopt for an id that does not exist, so the caller can refuse a
// foreign id exactly as it refuses a missing one.
//
// Owners are remembered: a resource's owner never changes while it exists (a sandbox
// keeps its codebase, a session its sandbox, a codebase its owner_id), so every call
// after the first skips the query. forget() drops a deleted resource; an entry that
// outlives its resource otherwise (an expired sandbox) can only ever name the owner it
// had, and ids are 64 random bits, never reused. The memory is bounded (kMaxRemembered).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/database.h"

namespace agentfense::store {

class Ownership {
 public:
  explicit Ownership(Database& db) : db_(db) {}

  std::optional<std::string> codebase_owner(const std::string& codebase_id);
  std::optional<std::string> sandbox_owner(const std::string& sandbox_id);
  std::optional<std::string> session_owner(const std::string& session_id);
  // The resource with this id is gone (any kind).
  void forget(const std::string& id);

  void charge_codebase(const std::string& codebase_id, const std::string& principal);
  void charge_sandbox(const std::string& sandbox_id, const std::string& principal);
  void charge_session(const std::string& session_id, const std::string& principal);

  // The principal a codebase's bytes count against ('' when none).
  std::string codebase_charge(const std::string& codebase_id);
  // The principal a sandbox counts against ('' when none).
  std::string sandbox_charge(const std::string& sandbox_id);

  std::int64_t codebases_of(const std::string& principal);
  std::int64_t stored_bytes_of(const std::string& principal);
  std::int64_t running_sandboxes_of(const std::string& principal);
  // The write-layer quota (ResourceLimits.disk_bytes, as recorded: 0 for a record from
  // before the field was filled) of each sandbox charged to the principal, in any status:
  // a stopped sandbox keeps its layer on the disk.
  std::vector<std::int64_t> sandbox_disk_quotas_of(const std::string& principal);
  std::int64_t open_sessions_of(const std::string& principal);

 private:
  static constexpr std::size_t kMaxRemembered = 1 << 16;
  std::optional<std::string> remembered_owner(char kind, const std::string& id, const char* sql);
  std::optional<std::string> text(const char* sql, const std::string& id);
  std::int64_t number(const char* sql, const std::string& principal);
  void charge(const char* sql, const std::string& id, const std::string& principal);

  Database& db_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> owners_;  // kind + id -> owner_id
};

}  // namespace agentfense::store
