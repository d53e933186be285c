// An image's VOLUMEs: cleaned as dockerd cleans them, refused where a tmpfs would hide the
// sandbox's files or the kernel's, and a created container with any mount but the
// workspace's bind refused.
#include "runtime/docker/image_volumes.h"

#include <gtest/gtest.h>

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

nlohmann::json inspected(const std::vector<std::string>& volumes) {
  nlohmann::json declared = nlohmann::json::object();
  for (const std::string& path : volumes) declared[path] = nlohmann::json::object();
  return {{"Config", {{"Volumes", declared}}}};
}

std::string refusal(const std::string& volume) {
  try {
    image_volumes("img:1", inspected({volume}));
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(ImageVolumes, NoneDeclared) {
  EXPECT_TRUE(image_volumes("img:1", {{"Config", {{"Volumes", nullptr}}}}).empty());
  EXPECT_TRUE(image_volumes("img:1", {{"Config", nullptr}}).empty());
  EXPECT_TRUE(image_volumes("img:1", nlohmann::json::object()).empty());
}

TEST(ImageVolumes, CleanedSortedAndUnique) {
  EXPECT_EQ(image_volumes("img:1", inspected({"/var/lib/postgresql/data", "/vol/", "//vol",
                                              "/./data//x/", "/tmp", "/workspaces", "/run"})),
            (std::vector<std::string>{"/data/x", "/run", "/tmp", "/var/lib/postgresql/data", "/vol",
                                      "/workspaces"}));
}

TEST(ImageVolumes, RefusedWhereATmpfsWouldHideTheSandbox) {
  for (const char* volume :
       {"/", "//", "/workspace", "/workspace/", "/workspace/out", "/proc", "/sys/fs", "/dev/shm",
        "/etc", "/etc/ssl", "/run/agentfense", "/run/agentfense/bin"}) {
    const std::string message = refusal(volume);
    EXPECT_NE(message.find("img:1"), std::string::npos) << volume << ": " << message;
    EXPECT_NE(message.find(std::string("VOLUME '") + volume + "'"), std::string::npos) << message;
  }
  for (const char* volume : {"vol", "", "/a/../workspace", "/vol/.."}) {
    EXPECT_FALSE(refusal(volume).empty()) << volume;
  }
  EXPECT_NE(refusal("data").find("not an absolute path"), std::string::npos);
  EXPECT_NE(refusal("/a/../etc").find("'..'"), std::string::npos);
  EXPECT_NE(refusal("/etc/\033[2J").find("\\x1b"), std::string::npos);  // escaped, not raw
}

TEST(ImageVolumes, NulInAVolumeIsRefused) {
  nlohmann::json image = {{"Config", {{"Volumes", {{std::string("/a\0b", 4), {}}}}}}};
  EXPECT_THROW(image_volumes("img:1", image), UserError);
}

TEST(ImageVolumes, OnlyTheWorkspaceBindMayBeMounted) {
  const nlohmann::json workspace = {{"Type", "bind"}, {"Destination", "/workspace"}};
  EXPECT_NO_THROW(refuse_host_volumes("img:1", {{"Mounts", nlohmann::json::array()}}));
  EXPECT_NO_THROW(refuse_host_volumes("img:1", {{"Mounts", {workspace}}}));
  const nlohmann::json volume = {{"Type", "volume"}, {"Destination", "/vol"}};
  EXPECT_THROW(refuse_host_volumes("img:1", {{"Mounts", {workspace, volume}}}), UserError);
  const nlohmann::json bind = {{"Type", "bind"}, {"Destination", "/data"}};
  EXPECT_THROW(refuse_host_volumes("img:1", {{"Mounts", {bind}}}), UserError);
}

}  // namespace
}  // namespace agentfense::runtime::docker
