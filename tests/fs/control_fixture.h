// A mounted fs (fs_fixture.h) with its control socket served in-process and a client
// connected to it, plus helpers for the assertions control tests make.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fs/control_ops.h"
#include "fs/control_server.h"
#include "fs_fixture.h"
#include "supervisor/control_client.h"

namespace agentfense::fs::testing {

class ControlledFs : public MountedFs {
 protected:
  void TearDown() override;

  // Mounts with every path writable and starts the control socket.
  void mount_writable();
  nlohmann::json call(const nlohmann::json& request);
  // "kind path" for each change, sorted by path.
  std::vector<std::string> changes();
  std::string read_base(const std::string& rel) const;
  nlohmann::json commit_all() { return call({{"op", "commit"}}); }
  // Someone else changes the codebase: `rel` now holds `content`.
  void host_writes(const std::string& rel, const std::string& content) const;
  bool base_has(const std::string& rel) const;
  // The paths a commit's report refused as conflicts.
  static nlohmann::json conflicts(const nlohmann::json& report) {
    return report.value("conflicts", nlohmann::json::array());
  }
  // A commit refused exactly `refused` as conflicts and left the host's `rel` holding
  // `content` (someone else's work the commit must not lose).
  void expect_kept(const nlohmann::json& report, const nlohmann::json& refused,
                   const std::string& rel, const std::string& content) const;

  std::string socket_path() const { return root_ + "/control.sock"; }

 private:
  std::unique_ptr<ControlOps> ops_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<supervisor::ControlClient> client_;
};

// A second, independent mount of a base (another sandbox over the same codebase).
class SecondMount {
 public:
  SecondMount(const std::string& base, const std::string& root);
  ~SecondMount();
  ControlOps& ops() { return *ops_; }
  const std::string& mountpoint() const { return mnt_; }

 private:
  std::string mnt_;
  int base_fd_ = -1;
  std::unique_ptr<policy::Policy> policy_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<ControlOps> ops_;
  std::thread loop_;
};

}  // namespace agentfense::fs::testing
