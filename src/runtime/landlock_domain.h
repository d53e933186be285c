// A Landlock domain of one's own, restricting nothing on the filesystem: what it gives is
// the kernel's rule that a process in a domain can neither trace nor open the /proc
// files (fd, mem, environ) of a process outside it or in a sibling domain, nor, from
// Landlock ABI 6, signal such a process or connect to its abstract unix sockets.
//
// The Docker runtime runs every command (each one-shot exec, each session) in its own
// domain: all of them share one uid and one pid namespace in the sandbox's container, and
// a session's leftover process took over a later exec's prologue through
// /proc/<pid>/fd/0, read the caller's variables from /proc/<pid>/environ and forged the
// exit code (attack sweep F0). Under bubblewrap each command has its own pid namespace
// and this is not needed.
#pragma once

namespace agentfense::runtime {

// The Landlock ABI version the running kernel offers; 0 when it has none (too old, or
// the LSM is not enabled).
int landlock_abi();

// Puts the calling thread (and what it executes or forks afterwards) in a new domain:
// scoped signals and abstract unix sockets from ABI 6, otherwise a domain that only
// forbids making block devices (which no agent may anyway). Sets no_new_privs, which
// Landlock requires. Returns 0, or the errno of the step that failed.
int enter_landlock_domain();

}  // namespace agentfense::runtime
