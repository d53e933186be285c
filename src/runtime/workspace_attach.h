// Puts the workspace into a bubblewrap boundary that was started before the workspace
// existed: a server's sandbox starts its exec launcher's bwrap while the fs process is
// still starting and mounting (exec_launcher.h), so neither waits for the other.
//
// The boundary has an empty, read-only /workspace until then, and nothing runs in it but
// the launcher (cwd "/") and its idle spares: a command is handed over only once this
// returned. The mount is cloned from `workspace_fd` (the FUSE mount itself, opened after
// it was mounted), made nosuid, nodev and private (nothing mounted inside ever
// propagates out, nor anything of the host's in) as bwrap's own binds are, and attached
// at /workspace inside the boundary's mount namespace by a short-lived root child that
// enters it (setns through a pidfd). Nothing of it appears in the host's mount table.
#pragma once

#include <sys/types.h>

namespace agentfense::runtime {

// `member` is a process inside the boundary (the launcher); `bwrap` is the boundary's
// outer bwrap process, our unreaped child. The member must be a child of bwrap's own
// child (its pid 1), checked after its pidfd is taken, so that a recycled pid can never
// lead into another mount namespace. Throws SystemError naming the failed step.
void attach_workspace(int workspace_fd, pid_t member, pid_t bwrap);

}  // namespace agentfense::runtime
