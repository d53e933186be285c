// cgroup_places.h against this host's real tables: every directory it names for this
// process is one whose cgroup.procs lists this process.
#include "runtime/cgroup_places.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace agentfense::runtime {
namespace {

bool lists_us(const std::string& dir) {
  std::ifstream procs(dir + "/cgroup.procs");
  for (pid_t pid; procs >> pid;)
    if (pid == ::getpid()) return true;
  return false;
}

TEST(CgroupPlaces, EveryHierarchyFoundHoldsThisProcessWhereItSays) {
  const CgroupPlaces mounts = cgroup_mounts({"pids", "memory"});
  const CgroupPlaces own = cgroups_of(0, {"pids", "memory"});
  ASSERT_FALSE(mounts.empty()) << "no cgroup hierarchy mounted";
  for (const auto& [key, mountpoint] : mounts) {
    ASSERT_TRUE(own.count(key)) << "mounted but not in /proc/self/cgroup: '" << key << "'";
    EXPECT_TRUE(lists_us(cgroup_host_path(mountpoint, own.at(key))))
        << "'" << key << "' at " << cgroup_host_path(mountpoint, own.at(key));
  }
  EXPECT_EQ(cgroups_of(::getpid(), {"pids", "memory"}), own);
}

TEST(CgroupPlaces, V1OwnPathIsTheMountPlusOurCgroup) {
  const CgroupPlaces mounts = cgroup_mounts({"pids"});
  if (!mounts.count("pids")) {
    EXPECT_EQ(v1_own_cgroup_path("pids"), "");
    GTEST_SKIP() << "no v1 pids hierarchy on this host";
  }
  EXPECT_TRUE(lists_us(v1_own_cgroup_path("pids"))) << v1_own_cgroup_path("pids");
}

TEST(CgroupPlaces, TheRootCgroupIsTheMountPoint) {
  EXPECT_EQ(cgroup_host_path("/sys/fs/cgroup/pids", "/"), "/sys/fs/cgroup/pids");
  EXPECT_EQ(cgroup_host_path("/sys/fs/cgroup", "/a/b"), "/sys/fs/cgroup/a/b");
}

}  // namespace
}  // namespace agentfense::runtime
