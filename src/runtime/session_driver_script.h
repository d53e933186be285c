// The bash loop that runs a session's commands in the shell process itself (so cwd,
// variables and functions persist): it reads framed commands and reports completion
// (session_protocol.h) on a private channel, never by markers in the output. One text
// for both runtimes; a container adds only what its shared output stream needs.
//
// Its arguments: $1 the channel fd it reads commands from, $2 the one it reports on
// (the same fd in a container), $3 where to start, $4 an fd to close first (the shell's
// own execute-only binary) or empty, $5 what $BASH should say.
#pragma once

#include <string>

namespace agentfense::runtime {

struct DriverScriptOptions {
  // In a container both output streams reach us on one exec stream, so each command's
  // end is fenced there too (docker/fence_filter.h); and the exec starts in /, so the
  // loop always cd's to $3, falling back to /workspace. Else $3 may be empty (stay
  // put), and a failing cd says why on stderr.
  bool container = false;
};

std::string session_driver_script(const DriverScriptOptions& options);

}  // namespace agentfense::runtime
