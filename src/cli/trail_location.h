// Where an audit trail may live: never where the sandbox it records can reach it.
#pragma once

#include <string>

namespace agentfense::cli {

// Refuses (UserError) a trail at `trail` that lies inside the codebase `dir`: the
// sandboxed agent could read it, or (through a write-level path and a commit) replace it
// with a forged chain that still verifies. Every CLI entry that takes --audit with a
// sandbox directory (run, mcp, mount) calls this before it starts anything.
void check_trail_outside(const std::string& trail, const std::string& dir);

// The trail's directory, resolved: where a file there would really be.
std::string resolved_parent(const std::string& trail);

}  // namespace agentfense::cli
