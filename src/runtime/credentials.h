// Privilege dropping for the forked child, before it execs bwrap. Every step is read
// back: a set*id call that "succeeds" without taking effect (seen with LSMs and
// seccomp policies in the host's container) must stop the launch, not run the sandbox
// as root. Async-signal-safe: these run between fork and exec.
#pragma once

#include <sys/types.h>

#include "common/child_process.h"

namespace agentfense::runtime {

// setgroups(0) then setresgid then setresuid (uid last: changing gid needs the
// privilege we are about to lose), then verifies real/effective/saved ids, an empty
// group list, and that uid 0 cannot be regained.
ChildFailure drop_privileges(uid_t uid, gid_t gid);

// The same, with raw system calls that change the calling task only: for a child that
// shares its parent's memory until exec (ChildProcess::spawn_vfork), where glibc's
// wrappers would try to bring every thread of the parent along. Only for a task that is
// alone in its process (a vfork or fork child), or the other threads keep their ids.
ChildFailure drop_task_privileges(uid_t uid, gid_t gid);

// PR_SET_NO_NEW_PRIVS and read it back: no setuid binary or file capability can give
// the sandbox more than it started with.
ChildFailure enforce_no_new_privs();

}  // namespace agentfense::runtime
