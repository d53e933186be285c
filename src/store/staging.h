// A private scratch directory for one upload, on the same filesystem as the codebase's
// files so that finished entries move in with an atomic rename(). It lives in
// <codebase_path>/.staging/ (never mounted by a sandbox); only when the codebase is on
// another filesystem (an imported directory) does it fall back to a hidden
// ".af-staging-<id>" directory inside the codebase itself. Whatever is left in it is
// removed, without following symlinks, when the StagingDir is destroyed.
#pragma once

#include <string>

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
};

}  // namespace agentfense::store
