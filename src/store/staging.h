// A private scratch directory for one upload, on the same filesystem as the codebase's
// files so that finished entries move in with an atomic rename(). It lives in
// <codebase_path>/.staging/ (never mounted by a sandbox); only when the codebase is on
// another filesystem (an imported directory) does it fall back to a hidden
// ".af-staging-<id>" directory inside the codebase itself. Whatever is left in it is
// removed, without following symlinks, when the StagingDir is destroyed. While in use it
// holds a flock on the directory, so that a start-up sweep of another process leaves it.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::store {

class StagingDir {
 public:
  StagingDir(const std::string& codebase_path, const std::string& files_dir);
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir();

  // O_PATH fd of the (empty at first) staging directory.
  int fd() const { return dir_.get(); }

 private:
  UniqueFd parent_;
  std::string name_;
  UniqueFd dir_;
  UniqueFd held_;  // read fd of the directory holding its flock
};

// At start-up (before any upload of this server): the ".af-staging-<id>" directories that
// uploads of a killed server left at the root of the imported directory `root_fd` (the
// user's own tree). Best effort: a failure is logged and lists nothing.
std::vector<std::string> staging_leftovers(int root_fd);

// Removes those of `names` (from staging_leftovers) in `root_fd` that no other process
// still uses, until `stop` is raised. Runs on the trash's thread (trash.h): a large
// leftover must not hold up start-up. Best effort: failures are logged.
void remove_staging_leftovers(int root_fd, const std::vector<std::string>& names,
                              const std::atomic<bool>& stop);

}  // namespace agentfense::store
