#include "runtime/docker/container_config.h"

#include <algorithm>

#include "common/errors.h"
#include "runtime/docker/container_bash.h"
#include "runtime/docker/seccomp_profile.h"
#include "runtime/etc_files.h"
#include "runtime/proc_masks.h"

namespace agentfense::runtime::docker {
namespace {

constexpr std::int64_t kCpuPeriodMicros = 100000;  // Docker's and the kernel's default period
constexpr const char* kRuntimeDirSize = "8m";      // room for the copy of bash
// Docker's own defaults: MaskedPaths replaces its list, so they are named again here.
constexpr std::array kDockerMaskedPaths = {
    "/proc/asound",        "/proc/acpi",       "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware"};
constexpr std::array kDockerReadonlyPaths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                             "/proc/sysrq-trigger"};
// The keeper: waits on the container's stdin until the server's attached connection goes.
constexpr const char* kKeeperScript = "read -r _; exit 0";

nlohmann::json masked_paths() {
  std::vector<std::string> paths(kDockerMaskedPaths.begin(), kDockerMaskedPaths.end());
  paths.insert(paths.end(), kMaskedProcFiles.begin(), kMaskedProcFiles.end());
  paths.insert(paths.end(), kMaskedProcDirs.begin(), kMaskedProcDirs.end());
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

std::string ids(uid_t uid, gid_t gid) {
  return std::to_string(uid) + ":" + std::to_string(gid);
}

}  // namespace

std::int64_t private_tmp_bytes(const Limits& limits) {
  return limits.memory_bytes > 0 ? std::max<std::int64_t>(limits.memory_bytes / 2, 1 << 20) : 0;
}

void check_image_reference(const std::string& image) {
  // The reference goes into API paths (/images/<ref>/json): nothing that a URL or a path
  // could read differently ("..", "?", "#", "%", empty components).
  const auto allowed = [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
  };
  const bool valid = !image.empty() && image.size() <= 512 &&
                     std::isalnum(static_cast<unsigned char>(image.front())) &&
                     image.back() != '/' && image.find("..") == std::string::npos &&
                     image.find("//") == std::string::npos &&
                     std::all_of(image.begin(), image.end(), allowed);
  if (!valid) throw UserError("image '" + image + "' is not a valid image reference");
}

nlohmann::json container_create_body(const ContainerPlan& plan) {
  check_image_reference(plan.image);
  if (plan.keeper_uid == 0 || plan.keeper_gid == 0)
    throw UserError("the container's keeper must not run as root");
  const Limits& limits = plan.limits;
  std::string tmp = "rw,exec,nosuid,nodev,mode=1777";
  if (const std::int64_t size = private_tmp_bytes(limits); size > 0)
    tmp += ",size=" + std::to_string(size);

  nlohmann::json tmpfs = {
      {"/tmp", tmp},
      {kRuntimeDir, std::string("rw,exec,nosuid,nodev,mode=0711,size=") + kRuntimeDirSize}};
  // A VOLUME is writable scratch space like /tmp and counted like it (charged to the
  // memory limit): a tmpfs there means dockerd makes no volume, no host directory. runc
  // gives the tmpfs the mode of the image's directory, as a volume would have had.
  for (const std::string& volume : plan.volumes) {
    if (!tmpfs.contains(volume)) tmpfs[volume] = tmp;
  }

  nlohmann::json host = {
      {"Init", true},
      {"Privileged", false},
      {"CapDrop", {"ALL"}},
      {"SecurityOpt", {"no-new-privileges", "seccomp=" + seccomp_profile_json()}},
      {"ReadonlyRootfs", true},
      {"NetworkMode", plan.network_mode},
      {"IpcMode", "private"},
      {"PidMode", ""},
      {"UTSMode", ""},
      {"UsernsMode", ""},
      {"CgroupnsMode", "private"},
      {"Tmpfs", tmpfs},
      {"MaskedPaths", masked_paths()},
      {"ReadonlyPaths", kDockerReadonlyPaths},
      {"AutoRemove", true},
      {"LogConfig", {{"Type", "none"}, {"Config", nlohmann::json::object()}}},
  };
  if (!plan.workspace.empty())
    host["Mounts"] = {{{"Type", "bind"},
                       {"Source", plan.workspace},
                       {"Target", "/workspace"},
                       {"BindOptions", {{"Propagation", "rprivate"}}}}};
  if (limits.memory_bytes > 0) {
    host["Memory"] = limits.memory_bytes;
    host["MemorySwap"] = limits.memory_bytes;  // equal: no swap on top of the limit
  }
  if (limits.pids_limit > 0) host["PidsLimit"] = limits.pids_limit;
  if (limits.cpu_quota > 0) {
    host["CpuQuota"] = limits.cpu_quota;
    host["CpuPeriod"] = kCpuPeriodMicros;
  }
  if (limits.cpu_shares > 0) host["CpuShares"] = limits.cpu_shares;

  return {
      {"Image", plan.image},
      {"User", ids(plan.keeper_uid, plan.keeper_gid)},
      {"Entrypoint", {"/bin/sh", "-c", kKeeperScript, "agentfense-keeper"}},
      {"Cmd", nullptr},
      {"WorkingDir", "/"},
      {"Hostname", "agentfense"},
      {"Env", {std::string("HOME=") + kAgentHome, "TERM=dumb"}},
      {"OpenStdin", true},
      {"StdinOnce", true},
      {"AttachStdin", true},
      {"Tty", false},
      {"Labels", {{kSandboxLabel, plan.sandbox_id}, {kInstanceLabel, plan.instance}}},
      {"HostConfig", host},
  };
}

}  // namespace agentfense::runtime::docker
