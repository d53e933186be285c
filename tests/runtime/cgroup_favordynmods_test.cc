// cgroup_favordynmods.h: read from mountinfo lines as this kernel writes them, and
// against this host's own table.
#include "runtime/cgroup_favordynmods.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace agentfense::runtime {
namespace {

constexpr const char* kV1Pids =
    "33 31 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n";
constexpr const char* kUnifiedOff =
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kUnifiedOn =
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,favordynmods\n";
constexpr const char* kOther = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw,favordynmods\n";

TEST(CgroupFavorDynmods, HybridHostOffAndOn) {
  const auto off = cgroup_favordynmods(std::string(kV1Pids) + kUnifiedOff);
  EXPECT_TRUE(off.cgroups);
  EXPECT_FALSE(off.on);
  EXPECT_EQ(off.cgroup2_mount, "/sys/fs/cgroup/unified");
  const auto on = cgroup_favordynmods(std::string(kV1Pids) + kUnifiedOn);
  EXPECT_TRUE(on.on);
}

TEST(CgroupFavorDynmods, PureV2AndPureV1) {
  const auto v2 = cgroup_favordynmods(
      "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,favordynmods,"
      "memory_recursiveprot\n");
  EXPECT_TRUE(v2.on);
  EXPECT_EQ(v2.cgroup2_mount, "/sys/fs/cgroup");
  const auto v1 = cgroup_favordynmods(kV1Pids);
  EXPECT_TRUE(v1.cgroups);
  EXPECT_FALSE(v1.on);
  EXPECT_EQ(v1.cgroup2_mount, "");
  // A v1 hierarchy mounted with the option switches the kernel's one rwsem too.
  EXPECT_TRUE(
      cgroup_favordynmods("34 31 0:30 / /x rw - cgroup cgroup rw,name=x,favordynmods\n").on);
}

TEST(CgroupFavorDynmods, OnlyCgroupMountsCount) {
  const auto none = cgroup_favordynmods(kOther);
  EXPECT_FALSE(none.cgroups);
  EXPECT_FALSE(none.on);
  // The per-mount options (before " - ") are not the hierarchy's flags.
  EXPECT_FALSE(cgroup_favordynmods("41 31 0:38 / /u rw,favordynmods - cgroup2 cgroup2 rw\n").on);
}

TEST(CgroupFavorDynmods, ThisHostAgreesWithItsMountinfo) {
  std::ifstream file("/proc/self/mountinfo");
  std::stringstream text;
  text << file.rdbuf();
  const bool listed = text.str().find(",favordynmods") != std::string::npos;
  EXPECT_EQ(cgroup_favordynmods().on, listed);
}

}  // namespace
}  // namespace agentfense::runtime
