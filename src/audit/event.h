// One audit event before it is written: what happened, to which path, what the policy
// decided and what the agent saw. The trail file (trail_file.h) adds the sequence number,
// the time stamp text and the hash chain; docs/audit.md documents every field.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentfense::audit {

// File access decisions come from the fs process, security events from the server or
// `agentfense run`, and the trail's own notices (dropped events, a repaired tail) are
// kind "audit".
inline constexpr const char* kKindFile = "file";
inline constexpr const char* kKindSecurity = "security";
inline constexpr const char* kKindAudit = "audit";

// Every op a trail line can carry (docs/audit.md): the fs's file operations, the server's
// and `run`'s security events, the trail's own notices. A filter on any other op is
// refused (it could never match, and an empty answer reads as "it did not happen"), so
// a new op goes here too.
inline constexpr std::string_view kKnownOps[] = {
    // kind file
    "lookup", "getattr", "readdir", "readlink", "open", "open_read", "open_write", "exec", "create",
    "unlink", "rename", "link", "symlink", "setattr", "getxattr", "setxattr", "removexattr",
    // kind security
    "sandbox_created", "sandbox_started", "sandbox_start_failed", "sandbox_stopped",
    "sandbox_failed", "sandbox_destroyed", "sandbox_expired", "session_exec", "exec_refused",
    "session_exec_refused", "session_refused", "commit", "discard", "changes_shown", "read_file",
    "write_file",
    // kind audit
    "events_dropped", "torn_tail_removed", "open_events_unavailable"};

struct Event {
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
  std::string kind = kKindFile;
  std::string op;
  std::string path;   // as the agent names it, "/"-rooted inside /workspace
  std::string path2;  // rename/link: the new name
  std::string type;   // create/unlink: "file", "dir", "symlink", "fifo", ...; setattr: what
  std::string level;  // the level that decided, "none".."write"
  std::string rule;   // the deciding rule as text, empty when no rule matched
  bool allowed = true;
  int error = 0;       // errno the agent got when denied
  std::string reason;  // denied: "hidden" (answered as absent), "level", "mode", ...
  std::uint64_t count = 1;
  std::string command;  // id of the command this happened in, when known
  // Further fields (security events: caller, command text, exit code, ...), written after
  // the standard ones. Null or an object.
  nlohmann::ordered_json details;
};

// The event's fields in the documented order, without v/seq/ts/prev/hash.
nlohmann::ordered_json to_fields(const Event& event);

// "EACCES" for 13, ...; the number as text for an errno without a symbolic name here.
std::string errno_name(int error);

// RFC 3339 UTC with microseconds: "2026-12-05T10:11:12.123456Z".
std::string format_time(std::chrono::system_clock::time_point time);

}  // namespace agentfense::audit
