// The bwrap command line for one sandbox: namespaces, the read-only host /usr, the
// generated /etc, /workspace, masked /proc entries, seccomp, the command's environment
// and the command. Pure apart from looking at which host paths exist: takes fds that
// are already open and returns strings, so it is unit-testable without running anything.
//
// Everything but the command travels in a sealed memfd read by `bwrap --args FD`, never
// on bwrap's own command line: /proc/<pid>/cmdline is readable by every host user (and
// bwrap's init is pid 1 inside the sandbox), while the command's environment values
// (--setenv) may be secrets. bwrap cannot take the command itself from --args, so
// argv is `bwrap --args FD -- COMMAND...`; the command's own processes show the same
// command line anyway.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/etc_files.h"

namespace agentfense::runtime {

// Absolute, so the supervisor's PATH cannot substitute another binary. bwrap >= 0.8 is
// required (--bind-fd, --disable-userns, --size, --args).
inline constexpr const char* kBwrapPath = "/usr/bin/bwrap";

struct BwrapPlan {
  std::vector<std::string> env;  // the command's whole environment, "KEY=VALUE"
  int workspace_fd = -1;         // bound at /workspace when >= 0
  // No workspace_fd yet: /workspace is an empty directory that the workspace is attached
  // over later (workspace_attach.h).
  bool workspace_later = false;
  std::string workdir;   // absolute path inside the sandbox
  bool network = false;  // own network namespace either way; see network_helper.h
  int seccomp_fd = -1;
  int64_t tmp_size = 0;  // bytes for the private /tmp; 0 = tmpfs default (half of RAM)
  // Networked sandboxes: bwrap reports the sandbox's pid on info_fd and the command waits
  // until block_fd is readable (the network is up). -1 = unused.
  int info_fd = -1;
  int block_fd = -1;
  const std::vector<GeneratedFile>* etc_files = nullptr;
};

// The options that go into the --args memfd (NUL-separated), in order.
std::vector<std::string> bwrap_options(const BwrapPlan& plan);

// What execve gets: `bwrap --args ARGS_FD -- COMMAND...`.
std::vector<std::string> bwrap_command_line(int args_fd, const std::vector<std::string>& command);

// `options` joined with NUL terminators, as --args reads them.
std::string join_bwrap_options(const std::vector<std::string>& options);

// `workdir` as an absolute sandbox path: relative paths are relative to /workspace.
// Throws UserError for a path with ".." that could leave the tree it names.
std::string resolve_workdir(const std::string& workdir);

}  // namespace agentfense::runtime
