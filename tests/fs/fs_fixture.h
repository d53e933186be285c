// Test fixture: a real FUSE mount of a generated base tree, served in-process (so tests
// can read the request counters), with operations run from a forked child that drops to
// an unprivileged uid without capabilities, so presented mode bits are really enforced.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
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

  // Runs `op` in a child as the agent uid; returns errno if op() < 0, else 0.
  int as_agent(const std::function<long()>& op);
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

 private:
  std::unique_ptr<policy::Policy> policy_;
  std::unique_ptr<Session> session_;
  std::thread loop_;
  int base_fd_ = -1;
};

}  // namespace agentfense::fs::testing
