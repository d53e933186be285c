// Test fixture: a real FUSE mount of a generated base tree, served in-process (so tests
// can read the request counters), with operations run from a forked child that drops to
// an unprivileged uid without capabilities, so presented mode bits are really enforced.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "fs/session.h"
#include "policy/policy.h"

namespace agentfense::fs::testing {

inline constexpr uid_t kAgentUid = 65534;
inline constexpr gid_t kAgentGid = 65534;

class MountedFs : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Base tree setup (before mount()).
  void base_file(const std::string& rel, const std::string& content, mode_t mode = 0644);
  void base_dir(const std::string& rel, mode_t mode = 0755);
  void mount(std::vector<policy::Rule> rules);
  void unmount();

  std::string at(const std::string& rel) const { return mnt_ + "/" + rel; }  // mount path
  std::string base_path(const std::string& rel) const { return base_ + "/" + rel; }

  // Runs `op(args...)` in a forked child as the agent uid; returns errno if it returned
  // < 0, else 0. The child of fork() in this multithreaded process may only make system
  // calls: another thread (the session's, the audit writer) can hold an allocator lock at
  // fork time, and a child that allocates waits for it forever (building a path string
  // there hung on ASan's stack-depot lock). So `op` captures nothing (a function such as
  // ::rename, or a capture-less lambda) and `args` are numbers or pointers: build paths in
  // the parent and pass their c_str(), as in as_agent(::rename, from.c_str(), at("to").c_str()).
  template <typename Op, typename... Args>
  int as_agent(Op op, Args... args) {
    static_assert(std::is_empty_v<Op> || std::is_function_v<std::remove_pointer_t<Op>>,
                  "as_agent: op must capture nothing (the child must not allocate)");
    static_assert((std::is_scalar_v<Args> && ...),
                  "as_agent: pass numbers or pointers (C strings built in the parent)");
    const pid_t pid = fork_agent();
    if (pid == 0) ::_exit(op(args...) < 0 ? errno : 0);
    return wait_agent(pid);
  }
  // Runs `cmd` with /bin/sh as the agent in the mount root; returns the exit status.
  int agent_sh(const std::string& cmd, std::string* out = nullptr);
  // Same operation as root in this process (the daemon's own checks, not mode bits).
  static int as_root(long rc) { return rc < 0 ? errno : 0; }

  // A digest of every path, type, mode and content under the base.
  std::string base_digest() const;
  std::vector<std::string> agent_listing(const std::string& rel);

  Session& session() { return *session_; }

  std::string root_;
  std::string base_;
  std::string state_;
  std::string mnt_;
  std::string audit_;
  bool prefetch_ = true;  // MountOptions::prefetch for the next mount()
  QuotaLimits quota_;     // MountOptions::quota for the next mount() (default unlimited)
  unsigned idle_workers_ = MountOptions{}.idle_workers;  // MountOptions::idle_workers, same

 private:
  // fork(), and in the child the switch to the agent uid (system calls only); 0 in the child.
  static pid_t fork_agent();
  // The exit status of the child `pid`, or -1 (and a test failure) if it was not started.
  static int wait_agent(pid_t pid);

  std::unique_ptr<policy::Policy> policy_;
  std::unique_ptr<Session> session_;
  std::thread loop_;
  int base_fd_ = -1;
};

}  // namespace agentfense::fs::testing
