// The body of POST /containers/create for one sandbox (pure: a plan in, JSON out).
// Hardened by default (DESIGN.md "Runtimes", docs/security.md):
//  - every command runs as the sandbox's leased host uid/gid (ExecTarget.user); the
//    container's own process, the keeper, as a second leased id, so no command can
//    signal it;
//  - no capabilities, no_new_privs, the seccomp profile of seccomp_profile.h, never
//    privileged, no host namespace (private IPC, pid, UTS and cgroup namespaces), the
//    network namespace "none" unless networking is on, /proc masked as under bwrap;
//  - read-only root filesystem; a private /tmp (tmpfs of half the memory limit, as
//    bwrap's) and one such tmpfs on each of the image's VOLUMEs (image_volumes.h); our
//    own root-only tmpfs kRuntimeDir; the sandbox's FUSE view at /workspace and nothing
//    else of the host;
//  - limits: memory (no swap on top), pids, cpu shares, and cpu_quota in Docker's own
//    unit (microseconds per 100 ms period) for the whole container;
//  - the keeper: docker-init running `sh -c 'read'` on the container's stdin, which the
//    server holds attached: when the server dies the connection closes, the keeper
//    exits, the kernel ends every process of the container and dockerd removes it.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/exec.h"

namespace agentfense::runtime::docker {

inline constexpr const char* kSandboxLabel = "io.agentfense.sandbox";
inline constexpr const char* kInstanceLabel = "io.agentfense.instance";

struct ContainerPlan {
  std::string image;
  std::string name;        // container name (also the hostname is "agentfense")
  std::string sandbox_id;  // label
  std::string instance;    // label: the server instance (or CLI run) that owns it
  std::string workspace;   // host path bound at /workspace; empty = none
  uid_t keeper_uid = 0;    // the container's main process (never root, never `uid`)
  gid_t keeper_gid = 0;
  Limits limits;
  std::string network_mode = "none";
  std::vector<std::string> volumes;  // the image's, checked (image_volumes.h)
};

// Throws UserError for an image name with characters a reference cannot hold.
nlohmann::json container_create_body(const ContainerPlan& plan);

// The private /tmp's size in bytes: half the memory limit (0 = tmpfs's own default).
std::int64_t private_tmp_bytes(const Limits& limits);

// Throws UserError unless `image` looks like an image reference (name[:tag][@digest]).
void check_image_reference(const std::string& image);

}  // namespace agentfense::runtime::docker
