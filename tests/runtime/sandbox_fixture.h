// Shared fixture: a real bwrap sandbox as root dropping to the default sandbox uid, with
// a plain directory (owned by that uid, inside a root-only 0700 directory like
// /run/agentfense) bound at /workspace through an O_PATH fd. No FUSE needed.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/unique_fd.h"
#include "runtime/exec.h"

namespace agentfense::runtime {

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // `sh -c script` with the workspace bound and the default sandbox ids.
  ExecSpec shell(const std::string& script) const;
  ExecResult run_shell(const std::string& script) const { return run_sandboxed(shell(script)); }
  // `python3 -c code`.
  ExecResult run_python(const std::string& code) const;

  std::string root_only_dir_;  // mode 0700, owned by root
  std::string workspace_dir_;  // inside it, owned by the sandbox uid
  UniqueFd workspace_fd_;
};

// A token unique to this process and call, for pgrep and file names.
std::string unique_marker();

}  // namespace agentfense::runtime
