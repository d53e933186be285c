// Persisted sandboxes: the full v1::Sandbox as a serialized BLOB, plus the columns used to
// filter, order and join (codebase_id, status, created_at, expires_at). The server keeps
// the live state; these rows let it list sandboxes and recover them after a restart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox.pb.h"
#include "store/database.h"

namespace agentfense::store {

namespace v1 = ::sandbox::v1;

class SandboxRecords {
 public:
  explicit SandboxRecords(Database& db) : db_(db) {}

  // Insert or update by id (sessions of an updated sandbox are kept). NOT_FOUND
  // (kReasonCodebaseNotFound) when its codebase does not exist.
  void put(const v1::Sandbox& sandbox);
  std::optional<v1::Sandbox> get(const std::string& id);
  // Ordered by (created_at, id) with keyset page tokens; codebase_id empty = all.
  // `owners` (when given) keeps only sandboxes on codebases of those owners.
  v1::ListSandboxesResponse list(const std::string& codebase_id, int page_size,
                                 const std::string& page_token,
                                 const std::vector<std::string>* owners = nullptr);
  // Every record, same order (restart recovery, expiry sweeps).
  std::vector<v1::Sandbox> list_all();
  // Also removes the sandbox's sessions. False when there was no such record.
  bool remove(const std::string& id);
  // Sandboxes on codebases owned by `owner_id`. Destroyed sandboxes are removed from
  // the store, so every remaining record counts (the per-user limit).
  int64_t count_for_owner(const std::string& owner_id);

 private:
  Database& db_;
};

}  // namespace agentfense::store
