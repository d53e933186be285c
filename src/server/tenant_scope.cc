#include "server/tenant_scope.h"

#include <limits>

#include "common/log.h"
#include "server/api.h"
#include "server/caller_scope.h"
#include "server/config/quantity_parse.h"
#include "store/upload_limits.h"

namespace agentfense::server {
namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + escape_user_text(item);
  return out.empty() ? "none" : out;
}

[[noreturn]] void over_quota(const Principal& principal, const std::string& what, const char* quota,
                             std::int64_t limit) {
  throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                 "principal " + principal.id + " already has " + what + " (quotas." + quota + " " +
                     std::to_string(limit) + "); free some first",
                 kReasonQuotaExceeded);
}

}  // namespace

const Principal& TenantScope::caller() const {
  const PrincipalPtr& caller = current_caller();
  // A transport that forgot to authenticate must not get an answer.
  if (!caller) throw ApiError(StatusCode::INTERNAL, "call without an authenticated caller");
  return *caller;
}

void TenantScope::check_owner(const std::optional<std::string>& owner, const char* kind,
                              const std::string& id, const char* reason) const {
  if (id.empty()) return;
  const Principal& who = caller();
  if (who.is_admin() || (owner && who.acts_for(*owner))) return;
  // For the operator only: a principal naming another tenant's resource.
  if (owner) log::warn("scope.refused", {{"principal", who.id}, {"kind", kind}, {"id", id}});
  // The very words of the service's own "not found" (sandbox_service.cc load(),
  // codebase_store.cc not_found()).
  throw ApiError(StatusCode::NOT_FOUND,
                 std::string(kind) + " " + escape_user_text(id) + " not found", reason);
}

void TenantScope::check(const CodebaseTarget& target) const {
  if (caller().is_admin()) return;
  check_owner(ownership_.codebase_owner(target.id), "codebase", target.id, kReasonCodebaseNotFound);
}

void TenantScope::check(const SandboxTarget& target) const {
  if (caller().is_admin()) return;
  check_owner(ownership_.sandbox_owner(target.id), "sandbox", target.id, kReasonSandboxNotFound);
}

void TenantScope::check_sandbox_owner(const std::optional<std::string>& owner,
                                      const std::string& id) const {
  if (caller().is_admin()) return;
  check_owner(owner, "sandbox", id, kReasonSandboxNotFound);
}

void TenantScope::check(const SessionTarget& target) const {
  if (caller().is_admin()) return;
  check_owner(ownership_.session_owner(target.id), "session", target.id, kReasonSessionNotFound);
}

std::string TenantScope::owner_for(const std::string& requested) const {
  const Principal& who = caller();
  if (requested.empty()) {
    if (who.owners.size() == 1) return who.owners.front();
    if (who.is_admin()) return requested;
    throw ApiError(
        StatusCode::INVALID_ARGUMENT,
        "owner_id is required: principal " + who.id + " acts for owners " + joined(who.owners),
        kReasonInvalidRequest);
  }
  if (who.may_access(requested)) return requested;
  throw ApiError(StatusCode::PERMISSION_DENIED,
                 "principal " + who.id + " may not act for owner " + escape_user_text(requested) +
                     " (it acts for " + joined(who.owners) + ")",
                 kReasonPermissionDenied);
}

void TenantScope::require_admin(const std::string& what) const {
  const Principal& who = caller();
  if (who.is_admin()) return;
  throw ApiError(StatusCode::PERMISSION_DENIED,
                 what + " is reserved to admin principals (principal " + who.id + " is a user)",
                 kReasonPermissionDenied);
}

std::unique_lock<std::mutex> TenantScope::lock_quota(const std::string& principal_id) {
  std::mutex* lock = nullptr;
  {
    const std::lock_guard guard(mutex_);
    lock = &quota_locks_[principal_id];  // std::map never moves its elements
  }
  return std::unique_lock(*lock);
}

TenantScope::CreateSlot TenantScope::create_slot(const Principal& principal, Creating kind) {
  const auto quota = lock_quota(principal.id);
  const auto key = std::make_pair(principal.id, kind);
  const bool codebase = kind == Creating::kCodebase;
  const std::int64_t limit = codebase ? principal.quotas.codebases : principal.quotas.sessions;
  if (limit > 0) {
    // Creates under way first, then what exists: a create records its result before it
    // gives its slot back, so one that is no longer under way is already counted. In the
    // other order a create could finish between the two reads and be counted by neither
    // (8 concurrent creates under a quota of 2 made 3, 6 % of runs under ASan).
    const std::int64_t under_way = creating_now(key);
    const std::int64_t made = codebase ? ownership_.codebases_of(principal.id)
                                       : ownership_.open_sessions_of(principal.id);
    if (made + under_way >= limit) {
      if (codebase) over_quota(principal, std::to_string(limit) + " codebases", "codebases", limit);
      over_quota(principal, std::to_string(limit) + " open sessions", "sessions", limit);
    }
  }
  return counted_slot(key, 1);
}

std::int64_t TenantScope::creating_now(const std::pair<std::string, Creating>& key) {
  const std::lock_guard guard(mutex_);
  const auto found = creating_.find(key);
  return found == creating_.end() ? 0 : found->second;
}

TenantScope::CreateSlot TenantScope::counted_slot(const std::pair<std::string, Creating>& key,
                                                  std::int64_t amount) {
  const std::lock_guard guard(mutex_);
  creating_[key] += amount;
  return CreateSlot(*this, key.first, key.second, amount);
}

TenantScope::CreateSlot TenantScope::sandbox_disk_slot(const Principal& principal,
                                                       std::int64_t disk_bytes,
                                                       std::int64_t unrecorded_bytes) {
  const auto quota = lock_quota(principal.id);
  const auto key = std::make_pair(principal.id, Creating::kSandboxDisk);
  const std::int64_t limit = principal.quotas.sandbox_disk_bytes;
  if (limit > 0) {
    if (disk_bytes <= 0)
      throw ApiError(StatusCode::INVALID_ARGUMENT,
                     "resources.disk_bytes is required: the sandboxes of principal " +
                         principal.id + " may hold " + format_size(limit) +
                         " of write layers (quotas.sandbox_disk_bytes) and this server sets "
                         "no sandbox.disk_bytes",
                     kReasonInvalidRequest);
    // Bytes summed with saturation: quotas may be as large as int64 allows.
    const auto add = [](std::int64_t a, std::int64_t b) {
      return a > std::numeric_limits<std::int64_t>::max() - b
                 ? std::numeric_limits<std::int64_t>::max()
                 : a + b;
    };
    // Creates under way first, then what exists (see create_slot).
    std::int64_t held = creating_now(key);
    for (const std::int64_t recorded : ownership_.sandbox_disk_quotas_of(principal.id))
      held = add(held, recorded > 0 ? recorded : unrecorded_bytes);
    if (add(held, disk_bytes) > limit)
      throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                     "principal " + principal.id + " already has " + format_size(held) +
                         " of write layers in its sandboxes and this one asks " +
                         format_size(disk_bytes) + " (quotas.sandbox_disk_bytes " +
                         format_size(limit) + "); destroy some or ask less (resources.disk_bytes)",
                     kReasonQuotaExceeded);
  }
  return counted_slot(key, disk_bytes);
}

TenantScope::CreateSlot::~CreateSlot() {
  const std::lock_guard guard(scope_.mutex_);
  const auto key = std::make_pair(principal_, kind_);
  if ((scope_.creating_[key] -= amount_) == 0) scope_.creating_.erase(key);
}

TenantScope::StartSlot TenantScope::start_slot(const std::string& sandbox_id,
                                               bool already_running) {
  const std::string principal = ownership_.sandbox_charge(sandbox_id);
  const auto quota = lock_quota(principal);
  const PrincipalPtr charged = directory_(principal);
  const std::int64_t limit = charged ? charged->quotas.running_sandboxes : 0;
  if (limit > 0 && !already_running) {
    std::int64_t others_starting = 0;
    {
      const std::lock_guard guard(mutex_);
      // A second start of a sandbox already being started is no new one either.
      for (const auto& [id, starts] : starting_[principal])
        if (id != sandbox_id) ++others_starting;
    }
    // Conservative: a start that just finished counts twice until its slot is gone.
    if (ownership_.running_sandboxes_of(principal) + others_starting >= limit)
      over_quota(*charged, std::to_string(limit) + " running sandboxes", "running_sandboxes",
                 limit);
  }
  const std::lock_guard guard(mutex_);
  ++starting_[principal][sandbox_id];
  return StartSlot(*this, principal, sandbox_id);
}

TenantScope::StartSlot::~StartSlot() {
  const std::lock_guard guard(scope_.mutex_);
  auto& starts = scope_.starting_[principal_];
  if (--starts[sandbox_id_] == 0) starts.erase(sandbox_id_);
  if (starts.empty()) scope_.starting_.erase(principal_);
}

store::Room TenantScope::stored_bytes_room(const std::string& codebase_id) {
  const PrincipalPtr charged = directory_(ownership_.codebase_charge(codebase_id));
  if (!charged || charged->quotas.stored_bytes <= 0) return {};
  const std::int64_t limit = charged->quotas.stored_bytes;
  return {.bytes = std::max<std::int64_t>(0, limit - ownership_.stored_bytes_of(charged->id)),
          .key = "quotas.stored_bytes of principal " + charged->id,
          .limit = limit};
}

TenantScope::RunningSlot TenantScope::running_slot(std::map<std::string, std::int64_t>& counts,
                                                   std::int64_t limit, const char* doing,
                                                   const char* quota, const char* advice,
                                                   const ServerCap* cap) {
  const Principal& who = caller();
  const std::lock_guard guard(mutex_);
  if (cap && cap->limit > 0 && cap->open >= cap->limit)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   "the server already has " + std::to_string(cap->open) + " " + cap->what + " (" +
                       cap->setting + " " + std::to_string(cap->limit) + "); " + advice,
                   kReasonQuotaExceeded);
  std::int64_t& running = counts[who.id];
  if (limit > 0 && running >= limit)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   "principal " + who.id + " already " + doing + " " + std::to_string(running) +
                       " (quotas." + quota + " " + std::to_string(limit) + "); " + advice,
                   kReasonQuotaExceeded);
  ++running;
  if (cap) ++cap->open;
  return RunningSlot(*this, counts, who.id, cap ? &cap->open : nullptr);
}

TenantScope::RunningSlot TenantScope::exec_slot() {
  return running_slot(running_execs_, caller().quotas.concurrent_execs,
                      "runs commands at once:", "concurrent_execs", "wait for one to finish");
}

TenantScope::RunningSlot TenantScope::follow_slot() {
  const ServerCap cap{open_follows_total_, max_follows_, "audit trails followed",
                      "audit.max_follows"};
  return running_slot(open_follows_, caller().quotas.concurrent_follows,
                      "follows audit trails:", "concurrent_follows", "close one first", &cap);
}

TenantScope::RunningSlot::~RunningSlot() {
  const std::lock_guard guard(scope_.mutex_);
  if (--counts_[principal_] == 0) counts_.erase(principal_);
  if (server_total_) --*server_total_;
}

}  // namespace agentfense::server
