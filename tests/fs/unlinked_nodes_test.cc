// A node removed while the agent still holds it (an open fd of a deleted file, the cwd
// of a removed directory) stays removed: changing it never brings its old name back, and
// the open file stays readable.
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class UnlinkedNodes : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    base_file("out/f", "B\n");
    base_file("out/g", "G\n");
    base_dir("out/dir");
    mount({Rule{"/out/**", Level::kWrite}});
  }
};

TEST_F(UnlinkedNodes, ChangingARemovedNodeDoesNotBringItBack) {
  std::string out;
  EXPECT_EQ(agent_sh("exec 3<out/f; rm out/f"
                     "; chmod 600 /proc/self/fd/3 2>/dev/null; echo chmod=$?"
                     "; echo 'x' 2>/dev/null >/proc/self/fd/3; echo reopen=$?"
                     "; cat <&3"
                     "; cd out/dir && rmdir ../dir && chmod 700 . 2>/dev/null; echo chmod_dir=$?",
                     &out),
            0);
  // A native fs would change the open file's mode; that cannot be done without its name,
  // so it is refused as for a name that is gone (copy_up.cc).
  EXPECT_EQ(out, "chmod=1\nreopen=2\nB\nchmod_dir=1\n");
  EXPECT_EQ(agent_listing("out"), std::vector<std::string>{"g"});
}

TEST_F(UnlinkedNodes, SettingAnXattrOnARemovedFileDoesNotBringItBack) {
  const std::string g = at("out/g");
  EXPECT_EQ(as_agent(
                [](const char* g) {
                  const int fd = ::open(g, O_RDONLY);
                  if (fd < 0 || ::unlink(g) < 0) return -1L;
                  const long rc = ::fsetxattr(fd, "user.x", "1", 1, 0);
                  char byte;
                  if (rc == 0 || errno != ENOENT || ::pread(fd, &byte, 1, 0) != 1) return -1L;
                  return 0L;
                },
                g.c_str()),
            0);
  EXPECT_EQ(agent_listing("out"), (std::vector<std::string>{"dir", "f"}));
}

}  // namespace
}  // namespace agentfense::fs::testing
