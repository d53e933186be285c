// The shells a session may be asked for. Every one of them runs the same thing: the
// session driver in an execute-only copy of the host's bash (runtime/session_driver_script.h,
// runtime/execute_only_shell.h), because the driver and the session's guarantees
// (exact exit codes, cwd and env kept, a timeout that kills the command, not the
// session) need bash. "sh" is accepted because clients of the original API open every
// session with shell="/bin/sh"; it is bash in its normal mode, not a POSIX sh (bash's
// POSIX mode would make some failing builtins end the session). Checked by the server
// (INVALID_ARGUMENT) and again by the runtime.
#pragma once

#include <array>
#include <string_view>

namespace agentfense {

inline constexpr std::array<std::string_view, 6> kSessionShellNames = {
    "bash", "/bin/bash", "/usr/bin/bash", "sh", "/bin/sh", "/usr/bin/sh"};

inline bool is_session_shell_name(std::string_view name) {
  for (const std::string_view accepted : kSessionShellNames)
    if (name == accepted) return true;
  return false;
}

// "bash, /bin/bash, ..." for error messages.
inline std::string_view session_shell_list() {
  return "bash, /bin/bash, /usr/bin/bash, sh, /bin/sh or /usr/bin/sh";
}

}  // namespace agentfense
