// fs processes a crashed server left behind. An fs process gets SIGTERM when the server
// dies, but one in the middle of a commit finishes it first: after a kill -9 of the
// server during CommitChanges it went on renaming files into the codebase while the
// restarted server already served other sandboxes and commits over that codebase
// (commits are serialized per codebase by the server only), and StartSandbox of its
// sandbox failed with INTERNAL. Start-up recovery ends such processes before the server
// listens: each holds its sandbox's state lock (layer/state_lock.h), which names it.
#pragma once

#include <string>

namespace agentfense::server {

// Ends every `agentfense mount` process that holds the state lock of a sandbox under
// `sandboxes_dir` (trash included): SIGTERM and up to a minute to finish its commit, then
// SIGKILL; returns once each is gone. A lock held by any other process is left alone
// (logged). Returns how many processes were ended.
int end_orphaned_fs(const std::string& sandboxes_dir);

}  // namespace agentfense::server
