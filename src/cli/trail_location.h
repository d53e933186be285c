// Where an audit trail may live: never where the sandbox it records can reach it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace agentfense::cli {

// Refuses (UserError) a trail at `trail` that lies inside the codebase `dir`: the
// sandboxed agent could read it, or (through a write-level path and a commit) replace it
// with a forged chain that still verifies. Every CLI entry that takes --audit with a
// sandbox directory (run, mcp, mount) calls this before it starts anything.
void check_trail_outside(const std::string& trail, const std::string& dir);

// --audit-max-bytes SIZE (run, mcp, mount): past this size of the trail, file events are
// counted in events_dropped lines instead of written. The default is the server's
// audit.max_sandbox_bytes default: without a bound an agent writes tens of MB/s of
// events to the host disk, outside every quota.
inline constexpr const char* kDefaultAuditMaxBytes = "256M";
void add_audit_max_bytes_option(CLI::App& app, std::string& value);
// The option's value in bytes; 0 = no limit. Throws UserError naming the flag.
std::int64_t audit_max_bytes(const std::string& value);

}  // namespace agentfense::cli
