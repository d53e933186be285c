// Who is calling the API (docs/security.md "Shared server"): the principal an API key or a
// client certificate authenticates as. Plain data, shared by the config (which parses the
// keys), the transports (which authenticate each call) and the service's scoping and
// quotas (which decide by it).
//
// A `user` principal acts for the owner ids in `owners` and sees, uses and counts only
// codebases of those owners (and sandboxes and sessions over them); an `admin` sees
// everything. When authentication is off (a loopback server without keys, or
// auth.mode: none) every call is the built-in local admin principal, which is exactly
// the server's behaviour before authentication existed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace agentfense::server {

enum class Role { kUser, kAdmin };

// Per-principal limits (docs/api.md "Limits"); each 0 = no limit.
struct PrincipalQuotas {
  std::int64_t running_sandboxes = 0;    // sandboxes it created that are RUNNING
  std::int64_t sessions = 0;             // open sessions it created
  std::int64_t codebases = 0;            // codebases it created or imported
  std::int64_t stored_bytes = 0;         // bytes of files in those codebases
  std::int64_t sandbox_disk_bytes = 0;   // write-layer quotas of its sandboxes, summed
  std::int64_t concurrent_execs = 0;     // Exec/ExecStream/SessionExec* running at once
  std::int64_t concurrent_follows = 0;   // GetAuditEvents with follow open at once
  std::int64_t requests_per_second = 0;  // token bucket refill rate, every RPC and route
  std::int64_t request_burst = 0;        // bucket size; 0 = requests_per_second

  bool operator==(const PrincipalQuotas&) const = default;
};

struct Principal {
  std::string id;
  std::vector<std::string> owners;
  Role role = Role::kUser;
  PrincipalQuotas quotas;

  bool is_admin() const { return role == Role::kAdmin; }
  bool acts_for(const std::string& owner) const {
    return std::find(owners.begin(), owners.end(), owner) != owners.end();
  }
  // May see and use a resource of `owner`.
  bool may_access(const std::string& owner) const { return is_admin() || acts_for(owner); }

  bool operator==(const Principal&) const = default;
};

using PrincipalPtr = std::shared_ptr<const Principal>;

inline const char* to_string(Role role) {
  return role == Role::kAdmin ? "admin" : "user";
}

// The caller when authentication is off: an admin without quotas.
inline PrincipalPtr local_principal() {
  static const PrincipalPtr local =
      std::make_shared<const Principal>(Principal{.id = "local", .role = Role::kAdmin});
  return local;
}

}  // namespace agentfense::server
