// Persisted sessions: the full v1::Session as a BLOB plus sandbox_id/status/created_at.
// A session row belongs to its sandbox row and disappears with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox.pb.h"
#include "store/database.h"

namespace agentfense::store {

namespace v1 = ::sandbox::v1;

class SessionRecords {
 public:
  explicit SessionRecords(Database& db) : db_(db) {}

  // Insert or update by id. NOT_FOUND (kReasonSandboxNotFound) when its sandbox has no
  // record.
  void put(const v1::Session& session);
  std::optional<v1::Session> get(const std::string& id);
  // Ordered by (created_at, id).
  std::vector<v1::Session> list_for_sandbox(const std::string& sandbox_id);
  bool remove(const std::string& id);
  // Returns how many were removed.
  int64_t remove_for_sandbox(const std::string& sandbox_id);

 private:
  Database& db_;
};

}  // namespace agentfense::store
