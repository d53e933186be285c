// Raises this process's soft limit on open files to its hard limit. The tree walks over a
// write layer (change review, commit, discard, quota) hold one directory fd per level, and
// a sandbox may nest directories as deep as its path length cap allows (4,095 levels,
// fs/workspace_path.h kMaxWorkspacePath): more than the 1,024 most hosts give as a soft
// limit. Anything this process starts inherits the raised soft limit, which it could have
// raised itself anyway (only the hard limit is a limit).
#pragma once

namespace agentfense {

void raise_open_file_limit();

}  // namespace agentfense
