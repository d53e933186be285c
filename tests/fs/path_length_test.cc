// Workspace paths are capped at 2 * PATH_MAX - 1 bytes (fs/workspace_path.h): a name whose
// path would be longer cannot be created, renamed to or looked up (ENAMETOOLONG), so an
// agent's deep chain of directories cannot grow what carries whole paths (journal, change
// lists, audit events) or the fds every layer walk holds per level; and a known name
// costs the fs its name, not its path. Nesting is done with relative calls, as a native
// tool can.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "fs/filesystem.h"
#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

// Enters (making it when `make`) "d" below the current directory until that fails or
// 5,000 levels; prints the levels reached and the errno name of the failure.
std::string nest_script(bool make) {
  return std::string("python3 -c '\nimport errno, os\nn = 0\ntry:\n  while n < 5000:\n") +
         (make ? "    os.mkdir(\"d\")\n" : "") +
         "    os.chdir(\"d\")\n    n += 1\n  print(n, \"none\")\n"
         "except OSError as e:\n  print(n, errno.errorcode[e.errno])\n'";
}

class PathLength : public MountedFs {};

// Bytes malloc has handed out in this process (every arena), where the fs serves.
std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

TEST_F(PathLength, NestingStopsAtThePathCap) {
  mount({Rule{"/**", Level::kWrite}});
  std::string out;
  ASSERT_EQ(agent_sh(nest_script(true), &out), 0) << out;
  // "/d" repeated 4,095 times is 8,190 bytes; one more level would be 8,192.
  EXPECT_EQ(out, "4095 ENAMETOOLONG\n");
  static_assert(kMaxWorkspacePath == 8191);
}

TEST_F(PathLength, BaseEntriesBeyondTheCapAreNotFound) {
  base_dir("deep");
  {
    // Made on the host with relative calls: 4,200 levels below /deep.
    UniqueFd dir(::open(base_path("deep").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir);
    for (int level = 0; level < 4200; ++level) {
      ASSERT_EQ(::mkdirat(dir.get(), "d", 0755), 0) << level;
      dir = UniqueFd(::openat(dir.get(), "d", O_PATH | O_DIRECTORY | O_CLOEXEC));
      ASSERT_TRUE(dir) << level;
    }
  }
  mount({Rule{"/**", Level::kRead}});
  std::string out;
  ASSERT_EQ(agent_sh("cd deep && " + nest_script(false), &out), 0) << out;
  // "/deep" (5 bytes) and 4,093 times "/d": 8,191 bytes.
  EXPECT_EQ(out, "4093 ENAMETOOLONG\n");
}

TEST_F(PathLength, DirectoryRenamesThatWouldPushAKnownDescendantPastTheCapAreRefused) {
  mount({Rule{"/**", Level::kWrite}});
  // /a holds a 3,000-level chain (its deepest path is 6,002 bytes), /b a 1,200-level one
  // (2,402 bytes). Moving /a to the bottom of /b would make 8,404-byte paths; moving it
  // to /b/a makes 6,004-byte ones. The script keeps the deepest directory open so the
  // kernel (and so the fs) knows every level while it renames.
  std::string out;
  ASSERT_EQ(agent_sh(R"(python3 -c '
import errno, os
def chain(top, levels):
    os.mkdir(top)
    fd = os.open(top, os.O_PATH)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        fd = os.open("d", os.O_PATH, dir_fd=fd)
    return fd
held_a = chain("a", 3000)
held_b = chain("b", 1200)
bottom = "b" + "/d" * 1200
try:
    os.rename("a", bottom + "/a")
    print("moved to the bottom")
except OSError as e:
    print("bottom:", errno.errorcode[e.errno])
print("a still there:", os.path.isdir("a"))
os.rename("a", "b/a")
print("moved to b/a:", os.path.isdir("b/a/d/d"))
')",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "bottom: ENAMETOOLONG\na still there: True\nmoved to b/a: True\n");
}

// The check counts each name of a hard-linked file: a directory holding the second name
// of a file whose first name is shorter than the directory's own path still moves (the
// first check measured the file's first name against the directory and refused it).
TEST_F(PathLength, ADirectoryHoldingAHardLinkToAShortNameStillMoves) {
  mount({Rule{"/**", Level::kWrite}});
  std::string out;
  ASSERT_EQ(agent_sh("echo x > f && mkdir -p longdirectory/sub && ln f longdirectory/sub/x && "
                     "mv longdirectory y && cat y/sub/x",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "x\n");
}

// The fs keeps a name and a parent link per node, as the kernel's dentries do. With a
// path per node, 2,000 files at the bottom of a 3,000-level chain (paths of 6,000 bytes)
// held 46 MB in the fs process, from the host's memory, not the sandbox's.
TEST_F(PathLength, KnownNamesCostTheFsTheirNamesNotTheirPaths) {
  audit_.clear();  // the trail's own bound is the recorder's (tests/audit)
  mount({Rule{"/**", Level::kWrite}});
  const std::size_t before = heap_in_use();
  std::string out;
  ASSERT_EQ(agent_sh(R"(python3 -c '
import os
for _ in range(3000):
    os.mkdir("d"); os.chdir("d")
for i in range(2000):
    open("f%04d" % i, "w").close()
print(len(os.getcwd()), len(os.listdir(".")))
')",
                     &out),
            0)
      << out;
  ASSERT_EQ(out, std::to_string(std::string("/d").size() * 3000 + mnt_.size()) + " 2000\n");
  const std::size_t grown = heap_in_use() - std::min(before, heap_in_use());
  // 4 MB here, or 12 when the transport added request buffers (1 MiB each) under the load.
  EXPECT_LT(grown, std::size_t{24} << 20) << "bytes held for 5,000 names";
}

}  // namespace
}  // namespace agentfense::fs::testing
