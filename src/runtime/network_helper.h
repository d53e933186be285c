// Outbound network for a sandbox that asked for it, without the host's network
// namespace: the sandbox always gets its own (bwrap --unshare-net), and slirp4netns
// connects it to the outside through a user-mode TCP/IP stack whose sockets live in the
// host's namespace. Inside: tap0 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3.
// --disable-host-loopback makes 10.0.2.2 (the host's 127.0.0.1) unreachable, and the
// host's own loopback services (the AgentFense API among them) are in another
// namespace altogether; addresses of the host's other interfaces are reachable like
// any outside address.
//
// The helper runs as the sandbox's unprivileged host uid (the owner of the sandbox's
// user namespace, which lets it join it) with no_new_privs, the fixed helper
// environment, only its own fds, inside the sandbox's cgroup (its memory counts
// against the sandbox's limit), and dies with the sandbox: killed and reaped by
// SandboxProcess, by PDEATHSIG and by its exit fd closing if the supervisor dies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

#include "common/child_process.h"
#include "common/unique_fd.h"

namespace agentfense::runtime {

inline constexpr const char* kSlirp4netnsPath = "/usr/bin/slirp4netns";
// The sandbox's resolver: slirp4netns forwards it to the host's.
inline constexpr const char* kSandboxNameserver = "10.0.2.3";

struct NetworkHelperPlan {
  pid_t sandbox_pid = -1;  // host pid of a process inside the sandbox's namespaces
  int bwrap_pidfd = -1;    // readable once bwrap has exited (setup failed)
  bool drop_privileges = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<int> cgroup_join_fds;
  std::chrono::milliseconds ready_timeout{10000};
};

class NetworkHelper {
 public:
  // Waits until bwrap has brought up the sandbox's loopback (slirp4netns brings up "lo"
  // too, and bwrap fails if it loses that race), then starts the helper. Returns once
  // the sandbox's interface is configured. Throws SystemError (with the
  // helper's own message) when it cannot start or does not become ready in time.
  static NetworkHelper start(const NetworkHelperPlan& plan);

  NetworkHelper(NetworkHelper&&) noexcept = default;
  NetworkHelper& operator=(NetworkHelper&&) = delete;
  // Kills and reaps the helper (ChildProcess).
  ~NetworkHelper() = default;

  pid_t pid() const { return process_.pid(); }

 private:
  NetworkHelper(ChildProcess process, UniqueFd exit_write)
      : process_(std::move(process)), exit_write_(std::move(exit_write)) {}

  ChildProcess process_;
  UniqueFd exit_write_;  // slirp4netns exits when this closes
};

// Reads bwrap's --info-fd JSON until it names the sandbox's pid ("child-pid"). Throws
// SystemError when bwrap exits (EOF) or the deadline passes first.
pid_t read_sandbox_pid(int info_fd, int bwrap_pidfd, std::chrono::milliseconds timeout);

}  // namespace agentfense::runtime
