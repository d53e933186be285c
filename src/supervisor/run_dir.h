// Per-invocation working directory: RUNTIME_ROOT/run-<pid>-<random>/mnt, and the write
// layer in LAYER_ROOT/run-<pid>-<random>.
// RUNTIME_ROOT is /run/agentfense (mode 0700) when running as root, so no other host user
// can reach a sandbox's mountpoint; otherwise (rootless, docs/rootless.md)
// $XDG_RUNTIME_DIR/agentfense when that directory exists and is ours, else
// /tmp/agentfense-<uid>, both 0700.
// LAYER_ROOT is /var/lib/agentfense/cli-layers (0700) as root: /run is a tmpfs on most
// hosts, and a layer there would keep the agent's writes in the host's memory, up to the
// disk quota, and could fill the /run every service needs. Rootless, the layer stays in
// the run directory (the user's own runtime dir, limited per user).
//
// The directory name carries the creating pid so that a later invocation can recognise
// leftovers of a crashed run (pid gone), unmount them and remove them.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace agentfense::supervisor {

class RunDir {
 public:
  // Sweeps stale run directories first, then creates a fresh one.
  static RunDir create();
  RunDir(RunDir&&) noexcept;
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  RunDir& operator=(RunDir&&) = delete;
  // Lazily unmounts anything left on mnt and removes the whole tree.
  ~RunDir();

  const std::string& path() const { return path_; }
  const std::string& state_dir() const { return state_; }
  std::string mountpoint() const { return path_ + "/mnt"; }

 private:
  RunDir(std::string path, std::string state) : path_(std::move(path)), state_(std::move(state)) {}
  std::string path_;
  std::string state_;  // the write layer (journal, upper tree)
};

std::string runtime_root();
std::string layer_root();

// Unmounts (lazily) and removes a run directory tree without following symlinks.
void destroy_run_dir(const std::string& path);

// Removes run directories whose creating process no longer exists. Returns how many.
int sweep_stale_run_dirs();

}  // namespace agentfense::supervisor
