// What a sandbox's container is created with: hardened whatever the plan, limits in
// Docker's units, the private /tmp sized as under bwrap and the image's VOLUMEs as /tmp,
// nothing of the host but the workspace.
#include "runtime/docker/container_config.h"

#include <gtest/gtest.h>

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

ContainerPlan plan() {
  return {.image = "python:3.11-slim",
          .name = "agentfense-sb_1",
          .sandbox_id = "sb_1",
          .instance = "0123456789abcdef",
          .workspace = "/run/agentfense/server/sb_1/mnt",
          .keeper_uid = 1879048193,
          .keeper_gid = 1879048193,
          .limits = {.memory_bytes = 512 << 20,
                     .cpu_quota = 25000,
                     .cpu_shares = 512,
                     .pids_limit = 100},
          .network_mode = "none"};
}

TEST(ContainerConfig, HardenedByDefault) {
  const nlohmann::json body = container_create_body(plan());
  const nlohmann::json& host = body["HostConfig"];
  EXPECT_EQ(body["User"], "1879048193:1879048193");
  EXPECT_EQ(host["CapDrop"], nlohmann::json({"ALL"}));
  EXPECT_FALSE(host.contains("CapAdd"));
  EXPECT_EQ(host["Privileged"], false);
  EXPECT_EQ(host["SecurityOpt"][0], "no-new-privileges");
  EXPECT_TRUE(host["SecurityOpt"][1].get<std::string>().starts_with("seccomp={"));
  EXPECT_EQ(host["ReadonlyRootfs"], true);
  EXPECT_EQ(host["NetworkMode"], "none");
  EXPECT_EQ(host["IpcMode"], "private");
  EXPECT_EQ(host["PidMode"], "");
  EXPECT_EQ(host["CgroupnsMode"], "private");
  EXPECT_EQ(host["Init"], true);
  EXPECT_EQ(host["AutoRemove"], true);
  // The only host path inside is the workspace.
  ASSERT_EQ(host["Mounts"].size(), 1u);
  EXPECT_EQ(host["Mounts"][0]["Target"], "/workspace");
  EXPECT_FALSE(host.contains("Binds"));
  EXPECT_EQ(body["Labels"]["io.agentfense.sandbox"], "sb_1");
  EXPECT_EQ(body["Labels"]["io.agentfense.instance"], "0123456789abcdef");
  // The keeper, not the image's entrypoint, holds the container open.
  EXPECT_EQ(body["Entrypoint"][0], "/bin/sh");
  EXPECT_TRUE(body["OpenStdin"].get<bool>() && body["StdinOnce"].get<bool>());
}

TEST(ContainerConfig, LimitsInDockersUnits) {
  const nlohmann::json host = container_create_body(plan())["HostConfig"];
  EXPECT_EQ(host["Memory"], 512 << 20);
  EXPECT_EQ(host["MemorySwap"], 512 << 20);  // no swap on top
  EXPECT_EQ(host["CpuQuota"], 25000);
  EXPECT_EQ(host["CpuPeriod"], 100000);
  EXPECT_EQ(host["CpuShares"], 512);
  EXPECT_EQ(host["PidsLimit"], 100);
  const std::string tmp = host["Tmpfs"]["/tmp"];
  EXPECT_NE(tmp.find("size=" + std::to_string(256 << 20)), std::string::npos) << tmp;
  EXPECT_NE(tmp.find("nosuid"), std::string::npos);

  ContainerPlan unlimited = plan();
  unlimited.limits = {};
  const nlohmann::json none = container_create_body(unlimited)["HostConfig"];
  for (const char* key : {"Memory", "MemorySwap", "CpuQuota", "CpuShares", "PidsLimit"})
    EXPECT_FALSE(none.contains(key)) << key;
  EXPECT_EQ(none["Tmpfs"]["/tmp"].get<std::string>().find("size="), std::string::npos);
}

TEST(ContainerConfig, ImageVolumesAreTmpfsSizedAsTmp) {
  ContainerPlan with_volumes = plan();
  with_volumes.volumes = {"/tmp", "/var/lib/postgresql/data", "/vol"};
  const nlohmann::json host = container_create_body(with_volumes)["HostConfig"];
  const nlohmann::json& tmpfs = host["Tmpfs"];
  ASSERT_EQ(tmpfs.size(), 4u);  // /tmp once, the runtime dir, two volumes
  EXPECT_EQ(tmpfs["/vol"], tmpfs["/tmp"]);
  EXPECT_EQ(tmpfs["/var/lib/postgresql/data"], tmpfs["/tmp"]);
  // Still no host path but the workspace.
  ASSERT_EQ(host["Mounts"].size(), 1u);
  EXPECT_FALSE(host.contains("Binds"));
}

TEST(ContainerConfig, ProcIsMaskedAsUnderBwrap) {
  const nlohmann::json masked = container_create_body(plan())["HostConfig"]["MaskedPaths"];
  for (const char* path : {"/proc/kcore", "/proc/cmdline", "/proc/kallsyms", "/proc/keys",
                           "/proc/acpi", "/proc/driver", "/sys/firmware"})
    EXPECT_NE(std::find(masked.begin(), masked.end(), path), masked.end()) << path;
}

TEST(ContainerConfig, RefusesRootAndBadImages) {
  ContainerPlan root = plan();
  root.keeper_uid = 0;
  EXPECT_THROW(container_create_body(root), UserError);
  for (const char* image : {"", "-rm", "a b", "x;y", "img?q=1", "../x#y", "../../containers/json",
                            "a/../../b", ".hidden", "a//b", "a/", "%2e%2e/x", "/abs"}) {
    ContainerPlan bad = plan();
    bad.image = image;
    EXPECT_THROW(container_create_body(bad), UserError) << image;
  }
  for (const char* image : {"alpine", "python:3.11-slim", "registry.local:5000/team/img:1",
                            "img@sha256:0123456789abcdef"})
    EXPECT_NO_THROW(check_image_reference(image)) << image;
}

}  // namespace
}  // namespace agentfense::runtime::docker
