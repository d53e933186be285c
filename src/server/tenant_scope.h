// The multi-tenant rules every scoped call goes through (scoped_api.h), in one place:
//
//   - who is calling: the CallerScope the transport opened (fail closed without one);
//   - may it touch what the request names: a user principal only resources of the owners
//     it acts for; anything else is refused with exactly the NOT_FOUND a missing id gets
//     (same status, message and reason), so ids of other tenants cannot be probed;
//   - which owner a new codebase gets: the caller's (owner_id checked, never trusted);
//   - quotas (server/principal.h PrincipalQuotas): codebases, running sandboxes and
//     sessions count against the principal that created them, stored bytes against the
//     codebase's creator, concurrent commands against the caller. A refusal is
//     RESOURCE_EXHAUSTED naming the quota and happens before anything is created.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/principal.h"
#include "server/request_targets.h"
#include "store/ownership.h"
#include "store/upload_limits.h"

namespace agentfense::server {

// Finds a principal by id (the keys' current set), null when unknown (revoked, or no
// authentication).
using PrincipalDirectory = std::function<PrincipalPtr(const std::string& id)>;

class TenantScope {
 public:
  // `max_follows`: audit follows open at once on the whole server (audit.max_follows),
  // 0 = no limit.
  TenantScope(store::Ownership& ownership, PrincipalDirectory directory,
              std::int64_t max_follows = 0)
      : ownership_(ownership), directory_(std::move(directory)), max_follows_(max_follows) {}

  // The caller of the current call; ApiError(INTERNAL) outside a CallerScope.
  const Principal& caller() const;

  // NOT_FOUND, worded like a missing resource, unless the caller may access it. An empty
  // id is let through: the service refuses it (INVALID_ARGUMENT) as for anyone.
  void check(const CodebaseTarget& target) const;
  void check(const SandboxTarget& target) const;
  void check(const SessionTarget& target) const;
  // The same check for a sandbox that may be gone (its audit trail): `owner` is the one
  // recorded with the trail, nullopt when unknown.
  void check_sandbox_owner(const std::optional<std::string>& owner, const std::string& id) const;

  // The owner a codebase created by the caller gets: `requested` if the caller acts for
  // it (PERMISSION_DENIED otherwise), or the caller's single owner when empty
  // (INVALID_ARGUMENT when it has several). Admins may name any owner.
  std::string owner_for(const std::string& requested) const;
  // PERMISSION_DENIED unless the caller is an admin; `what` names the operation.
  void require_admin(const std::string& what) const;

  // A create under way (a codebase, an imported directory, a session), counted against
  // the principal's quota from the check until the slot is gone; the caller charges the
  // created resource before that (a moment counted twice errs on the safe side). So
  // the quota lock is held only for the check, never across the create: an import of a
  // large directory or a session whose shell is slow to start does not hold up the
  // principal's other calls, and concurrent creates still cannot both pass the check.
  // A sandbox being created is counted by its write-layer quota (kSandboxDisk: bytes),
  // the others one each.
  enum class Creating { kCodebase, kSession, kSandboxDisk };
  class CreateSlot {
   public:
    ~CreateSlot();
    CreateSlot(const CreateSlot&) = delete;
    CreateSlot& operator=(const CreateSlot&) = delete;

   private:
    friend class TenantScope;
    CreateSlot(TenantScope& scope, std::string principal, Creating kind, std::int64_t amount)
        : scope_(scope), principal_(std::move(principal)), kind_(kind), amount_(amount) {}
    TenantScope& scope_;
    std::string principal_;
    Creating kind_;
    std::int64_t amount_;
  };
  // RESOURCE_EXHAUSTED when one more would exceed quotas.codebases / quotas.sessions.
  CreateSlot create_slot(const Principal& principal, Creating kind);
  // RESOURCE_EXHAUSTED when a new sandbox whose write layer may hold `disk_bytes` would
  // take the sum over the principal's sandboxes (running or not: a stopped one keeps its
  // layer) past quotas.sandbox_disk_bytes; INVALID_ARGUMENT for a sandbox without a
  // write-layer quota (0) under that quota. A record without one counts as
  // `unrecorded_bytes` (the server's sandbox.disk_bytes, which it is mounted with).
  CreateSlot sandbox_disk_slot(const Principal& principal, std::int64_t disk_bytes,
                               std::int64_t unrecorded_bytes);
  // A start of a sandbox under way, counted against quotas.running_sandboxes of the
  // principal it is charged to from the check until the start is over (by then the
  // sandbox's record says RUNNING, or the start failed). So the quota lock is held only
  // for the check, never across the start, which may take seconds: one slow start does
  // not hold up the principal's other starts and sessions.
  class StartSlot {
   public:
    ~StartSlot();
    StartSlot(const StartSlot&) = delete;
    StartSlot& operator=(const StartSlot&) = delete;

   private:
    friend class TenantScope;
    StartSlot(TenantScope& scope, std::string principal, std::string sandbox_id)
        : scope_(scope), principal_(std::move(principal)), sandbox_id_(std::move(sandbox_id)) {}
    TenantScope& scope_;
    std::string principal_;
    std::string sandbox_id_;
  };
  // RESOURCE_EXHAUSTED when starting `sandbox_id` would run more sandboxes than its
  // principal may (no check when `already_running`: starting it again is no new one).
  StartSlot start_slot(const std::string& sandbox_id, bool already_running);
  // The room a codebase has under its creator's quotas.stored_bytes (CodebaseStore).
  store::Room stored_bytes_room(const std::string& codebase_id);

  // A long call of the caller running, counted for a concurrent_* quota while it runs.
  class RunningSlot {
   public:
    ~RunningSlot();
    RunningSlot(const RunningSlot&) = delete;
    RunningSlot& operator=(const RunningSlot&) = delete;

   private:
    friend class TenantScope;
    RunningSlot(TenantScope& scope, std::map<std::string, std::int64_t>& counts,
                std::string principal, std::int64_t* server_total)
        : scope_(scope),
          counts_(counts),
          principal_(std::move(principal)),
          server_total_(server_total) {}
    TenantScope& scope_;
    std::map<std::string, std::int64_t>& counts_;
    std::string principal_;
    std::int64_t* server_total_;  // the server-wide count it is in too; may be null
  };
  // A command (quotas.concurrent_execs), or an audit trail followed (GetAuditEvents with
  // follow: it holds a server thread, about 3 threads and 4 descriptors, for as long as
  // the sandbox lives; quotas.concurrent_follows, and max_follows for the whole server).
  // RESOURCE_EXHAUSTED when the caller, or for follows the server, already runs as many.
  RunningSlot exec_slot();
  RunningSlot follow_slot();

  store::Ownership& ownership() { return ownership_; }

 private:
  void check_owner(const std::optional<std::string>& owner, const char* kind, const std::string& id,
                   const char* reason) const;

  store::Ownership& ownership_;
  PrincipalDirectory directory_;
  std::mutex mutex_;  // guards the maps
  // Serializes a principal's quota checks (with the counting of the slot they hand
  // out), so concurrent calls cannot both pass a check.
  std::unique_lock<std::mutex> lock_quota(const std::string& principal_id);
  // The creates of `key` under way (CreateSlot), and one more of `amount` counted.
  std::int64_t creating_now(const std::pair<std::string, Creating>& key);
  CreateSlot counted_slot(const std::pair<std::string, Creating>& key, std::int64_t amount);
  // A bound on calls of every principal together, checked before the caller's own.
  struct ServerCap {
    std::int64_t& open;
    std::int64_t limit;   // 0: none
    const char* what;     // "audit trails followed"
    const char* setting;  // "audit.max_follows"
  };
  // Counts one more call of the caller in `counts` (and in cap->open), or refuses past
  // `limit` (0: none): "principal P already DOING N (quotas.QUOTA L); ADVICE", or past
  // the server's cap: "the server already has N WHAT (SETTING L); ADVICE".
  RunningSlot running_slot(std::map<std::string, std::int64_t>& counts, std::int64_t limit,
                           const char* doing, const char* quota, const char* advice,
                           const ServerCap* cap = nullptr);

  std::map<std::string, std::mutex> quota_locks_;
  // (principal, kind) -> its creates under way (CreateSlot: a count, or bytes for
  // kSandboxDisk); entries at 0 are erased.
  std::map<std::pair<std::string, Creating>, std::int64_t> creating_;
  std::map<std::string, std::int64_t> running_execs_;
  std::map<std::string, std::int64_t> open_follows_;
  // Every principal's follows: each costs threads and descriptors of the one server
  // process, and 600 of one tenant used up its open files.
  const std::int64_t max_follows_;
  std::int64_t open_follows_total_ = 0;
  // principal -> sandbox id -> its starts under way (StartSlot).
  std::map<std::string, std::map<std::string, int>> starting_;
};

}  // namespace agentfense::server
