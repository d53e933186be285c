// The server's audit trails: one hash-chained JSONL file per sandbox under
// <data_dir>/audit/<sandbox id>.jsonl (audit/trail_file.h), kept apart from the sandbox's
// state dir so that a trail outlives the sandbox: destroy removes the write layer, never
// the trail. Retention (audit.retention, audit.max_bytes) alone removes trails.
//
// The fs process of a running sandbox appends its file events to the same file (it is
// told the path by the server); the server appends the security events through record().
//
// Acknowledged: record() returns once the event is appended and fdatasync'd, so an API
// call that created, ran or committed something has its event on disk before it answers.
//
// <id>.owner beside each trail holds the owner of the sandbox, so that the trail of a
// destroyed sandbox stays readable by that owner alone (scoped_sandbox_api.cc).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "audit/event.h"

namespace agentfense::server {

struct AuditRetention {
  std::chrono::milliseconds max_age{std::chrono::hours(24 * 90)};  // 0 = keep forever
  std::int64_t max_bytes = 0;                                      // 0 = no limit
  // Bytes a running sandbox's fs process may write into its trail (audit/recorder.h).
  std::int64_t max_sandbox_bytes = 0;  // 0 = no limit
};

class AuditTrails {
 public:
  // Creates `dir` (0700). Throws SystemError.
  AuditTrails(std::string dir, AuditRetention retention);

  std::string path(const std::string& sandbox_id) const;
  std::int64_t max_sandbox_bytes() const { return retention_.max_sandbox_bytes; }
  // False for an id that is not made of [A-Za-z0-9_-] (such as "../x"): callers check
  // exists() before path() or owner() with an id a client sent.
  bool exists(const std::string& sandbox_id) const;

  // Appends and syncs one security event (kind "security") and logs it as
  // "audit.<op>" in the server log with the same fields. Never throws: a trail that
  // cannot be written is logged as an error (the call it belongs to still answers).
  void record(const std::string& sandbox_id, const std::string& op, nlohmann::ordered_json details,
              bool allowed = true);

  void set_owner(const std::string& sandbox_id, const std::string& owner);
  // The owner recorded for the trail; nullopt when there is no such trail.
  std::optional<std::string> owner(const std::string& sandbox_id) const;

  // Among trails for which `in_use` is false (sandboxes destroyed or expired), removes
  // those last written before now - max_age; then, while those left together exceed
  // max_bytes, the oldest trail of the owner holding the most bytes of them. A sandbox
  // that still exists keeps its trail and does not count. Returns how many were removed.
  int apply_retention(const std::function<bool(const std::string&)>& in_use);

 private:
  std::string dir_;
  AuditRetention retention_;
  std::mutex mu_;  // one append at a time from this process (the file's flock does the rest)
};

// How many paths of one list an event names: the first ones in order, up to 1,000 paths
// or 64 KiB of them (the path that crosses it is kept). A command's changes are the
// agent's to choose: unbounded, 5,000 new files at the bottom of a 3,000-level chain
// made one exec line of 39 MB (and the trail, `audit verify` and every reader of it
// paid for it). Each file's own event (create, open_write, ...) still names it.
inline constexpr std::size_t kEventListedPaths = 1000;
inline constexpr std::size_t kEventListedPathBytes = 64 << 10;

// Sets details[key] to the JSON array of `paths` (any container of strings), bounded as
// above; when paths are left out, details[key + "_omitted"] says how many, counting the
// `omitted` ones a reply already left out (layer/listed_paths.h).
template <typename Paths>
void add_paths(nlohmann::ordered_json& details, const std::string& key, const Paths& paths,
               std::int64_t omitted = 0) {
  nlohmann::ordered_json listed = nlohmann::ordered_json::array();
  std::size_t count = 0;
  std::size_t bytes = 0;
  for (const auto& path : paths) {
    if (count == kEventListedPaths || bytes >= kEventListedPathBytes) break;
    listed.push_back(path);
    ++count;
    bytes += std::string_view(path).size();
  }
  details[key] = std::move(listed);
  const std::size_t total = static_cast<std::size_t>(std::size(paths));
  const std::size_t left_out =
      total - count + static_cast<std::size_t>(std::max<std::int64_t>(omitted, 0));
  if (left_out > 0) details[key + "_omitted"] = left_out;
}

// What the sync after a command (or an API file write) did, from its
// CommitChangesResponse: the paths committed, and those kept in the write layer because
// the rules allow no commit (commit_denied) or the codebase changed under them
// (commit_conflicts).
template <typename Commit>
void add_sync_paths(nlohmann::ordered_json& details, const Commit& commit) {
  add_paths(details, "committed", commit.applied(), commit.applied_omitted());
  add_paths(details, "commit_denied", commit.denied(), commit.denied_omitted());
  add_paths(details, "commit_conflicts", commit.conflicts(), commit.conflicts_omitted());
}

}  // namespace agentfense::server
