// One cgroup directory that we created and own (RAII): destroying it kills whatever is
// still inside and removes the directory. Shared by the v1 and v2 backends.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::runtime {

// mkdir that accepts an existing directory (the shared "agentfense" parent), then
// removes children left by supervisors that died without cleaning up (SIGKILL, crash):
// "exec-<pid>-<n>" and "sandbox-<pid>-<n>" (with the exec cgroups inside) whose <pid>
// no longer exists. Their members are killed first.
void ensure_cgroup_dir(const std::string& path);
// The same removal of a dead supervisor's children of `parent` alone (nothing when it
// does not exist); how many were removed.
int sweep_stale_cgroups_in(const std::string& parent);

class CgroupDir {
 public:
  explicit CgroupDir(std::string path);  // creates it; throws SystemError
  // Takes ownership of an existing cgroup (a stale one being swept); invalid if it
  // cannot be opened.
  static CgroupDir adopt(std::string path);
  CgroupDir(CgroupDir&&) = default;
  CgroupDir& operator=(CgroupDir&&) = delete;
  CgroupDir(const CgroupDir&) = delete;
  ~CgroupDir();

  const std::string& path() const { return path_; }
  bool has_file(const std::string& name) const;
  void write(const std::string& name, const std::string& value) const;  // throws
  int procs_fd() const { return procs_.get(); }
  std::vector<pid_t> members() const;

  // v1 has no atomic kill: SIGKILL every member, repeat until empty. Processes forked
  // between two reads are caught by the next round; bounded so teardown cannot hang.
  void kill_members_until_empty() const;

 private:
  CgroupDir(std::string path, UniqueFd procs) : path_(std::move(path)), procs_(std::move(procs)) {}

  std::string path_;
  UniqueFd procs_;  // empty after being moved from
};

}  // namespace agentfense::runtime
