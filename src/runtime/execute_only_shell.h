// The session shell runs from an execute-only copy of bash, so that the kernel marks
// the shell process non-dumpable: a binary the process cannot read makes exec clear
// the "dumpable" flag, and then no other process of the same uid may open the shell's
// /proc/<pid>/fd/*, /proc/<pid>/mem or environ, pidfd_getfd() its fds, or ptrace it.
// That is what keeps the session's control channel (session_channel.h) out of reach of
// everything the shell starts.
//
// The copy is a sealed memfd (no writer can change it), mode 0111 and owned by us (host
// root: unmapped inside the sandbox, so not even the sandbox's uid owns it), shared by
// every session of this process. The sandbox execs it as /proc/self/fd/<fd>.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace agentfense::runtime {

// The host path of the only shell sessions run: every name of kSessionShellNames
// (common/session_shells.h: bash and sh, with or without /bin or /usr/bin) names it.
// Throws UserError for anything else: the copy is made from a host path, so a
// client-chosen path must never reach it.
std::string session_shell_path(const std::string& requested);

// A read-only, close-on-exec fd of the execute-only copy of /usr/bin/bash (made once
// per process, then reused; never closed). Throws SystemError when it cannot be made (the session
// then fails to start: never a dumpable fallback).
int execute_only_copy_of_bash();

// A sealed, mode 0111, close-on-exec memfd copy of the executable at `path` (the same
// for other programs that must run non-dumpable inside a sandbox). Throws SystemError.
UniqueFd make_execute_only_copy(const char* path, const char* name);

}  // namespace agentfense::runtime
