// Each level x each operation, with the exact errno, as an unprivileged agent (mode bits
// enforced by the kernel) and as root (only the daemon's own checks apply).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::PatternType;
using policy::Rule;

class Levels : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    for (const char* dir : {"v", "r", "w"}) {
      base_file(std::string(dir) + "/f", "data", 0644);
      base_file(std::string(dir) + "/sub/g", "data", 0644);
    }
    base_file("none.txt", "secret");
    base_file("w/secret.key", "key");
    mount({Rule{"/v/**", Level::kView}, Rule{"/r/**", Level::kRead}, Rule{"/w/**", Level::kWrite},
           Rule{"**/*.key", Level::kNone, 10}});
  }

  int agent_open(const std::string& rel, int flags) {
    const std::string path = at(rel);
    return as_agent(::open, path.c_str(), flags, 0644);
  }
  mode_t agent_mode(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::stat(at(rel).c_str(), &st), 0) << rel;  // root may stat: same presentation
    return st.st_mode & 07777;
  }
};

TEST_F(Levels, StatAndOpenPerLevel) {
  const std::string none = at("none.txt");
  EXPECT_EQ(as_agent(
                [](const char* path) {
                  struct stat st;
                  return ::stat(path, &st);
                },
                none.c_str()),
            ENOENT);
  EXPECT_EQ(agent_open("none.txt", O_RDONLY), ENOENT);
  EXPECT_EQ(agent_open("v/f", O_RDONLY), EACCES);
  EXPECT_EQ(agent_open("r/f", O_RDONLY), 0);
  EXPECT_EQ(agent_open("w/f", O_RDONLY), 0);
  EXPECT_EQ(agent_open("v/f", O_WRONLY), EACCES);
  EXPECT_EQ(agent_open("r/f", O_WRONLY), EACCES);
  EXPECT_EQ(agent_open("w/f", O_WRONLY), 0);
  EXPECT_EQ(agent_mode("v/f"), 0000);
  EXPECT_EQ(agent_mode("r/f"), 0444);
  EXPECT_EQ(agent_mode("w/f"), 0644);
  EXPECT_EQ(agent_mode("v"), 0555);
  EXPECT_EQ(agent_mode("r"), 0555);
  EXPECT_EQ(agent_mode("w"), 0755);
  struct stat st;
  ASSERT_EQ(::stat(at("w").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_size, 4096);
  EXPECT_EQ(st.st_uid, kAgentUid);
}

TEST_F(Levels, CreateNeedsWriteOnThePath) {
  EXPECT_EQ(agent_open("w/new", O_CREAT | O_WRONLY | O_EXCL), 0);
  EXPECT_EQ(agent_open("r/new", O_CREAT | O_WRONLY), EACCES);
  EXPECT_EQ(agent_open("v/new", O_CREAT | O_WRONLY), EACCES);
  EXPECT_EQ(agent_open("new", O_CREAT | O_WRONLY), EACCES);
  const std::string dir = at("w/newdir"), rdir = at("r/newdir");
  EXPECT_EQ(as_agent(::mkdir, dir.c_str(), 0755), 0);
  EXPECT_EQ(as_agent(::mkdir, rdir.c_str(), 0755), EACCES);
  EXPECT_EQ(as_agent(::rmdir, dir.c_str()), 0);
  const std::string link_w = at("w/ln"), link_r = at("r/ln");
  EXPECT_EQ(as_agent(::symlink, "f", link_w.c_str()), 0);
  EXPECT_EQ(as_agent(::symlink, "f", link_r.c_str()), EACCES);
}

TEST_F(Levels, HiddenAndAbsentAreIndistinguishable) {
  const std::string hidden = at("w/secret.key"), absent = at("w/other.key");
  struct stat st;
  EXPECT_EQ(as_agent(::stat, hidden.c_str(), &st), ENOENT);
  EXPECT_EQ(as_agent(::stat, absent.c_str(), &st), ENOENT);
  EXPECT_EQ(agent_open("w/secret.key", O_CREAT | O_WRONLY), EACCES);
  EXPECT_EQ(agent_open("w/other.key", O_CREAT | O_WRONLY), EACCES);
  EXPECT_EQ(as_agent(::mkdir, hidden.c_str(), 0755), EACCES);
  EXPECT_EQ(as_agent(::mkdir, absent.c_str(), 0755), EACCES);
  EXPECT_EQ(as_agent(::unlink, hidden.c_str()), ENOENT);
  EXPECT_EQ(as_agent(::unlink, absent.c_str()), ENOENT);
}

TEST_F(Levels, RemoveRenameLinkNeedWriteAtBothEnds) {
  const std::string wf = at("w/f"), rf = at("r/f"), rsub = at("r/sub/g");
  EXPECT_EQ(as_agent(::unlink, rf.c_str()), EACCES);
  EXPECT_EQ(as_agent(::rename, wf.c_str(), at("r/moved").c_str()), EACCES);
  EXPECT_EQ(as_agent(::rename, rf.c_str(), at("w/moved").c_str()), EACCES);
  EXPECT_EQ(as_agent(::link, rf.c_str(), at("w/hard").c_str()), EACCES);
  EXPECT_EQ(as_agent(::link, wf.c_str(), at("r/hard").c_str()), EACCES);
  EXPECT_EQ(as_agent(::link, wf.c_str(), at("w/hard").c_str()), 0);
  EXPECT_EQ(as_agent(::rename, wf.c_str(), at("w/moved").c_str()), 0);
  EXPECT_EQ(as_agent(::rmdir, at("r/sub").c_str()), EACCES);
  EXPECT_EQ(as_agent(::unlink, rsub.c_str()), EACCES);
  EXPECT_EQ(as_agent(::unlink, at("w/moved").c_str()), 0);
}

TEST_F(Levels, MetadataChanges) {
  const std::string rf = at("r/f"), wf = at("w/f");
  EXPECT_EQ(as_agent(::chmod, rf.c_str(), 0666), EPERM);
  EXPECT_EQ(as_agent(::chmod, wf.c_str(), 04755), 0);
  EXPECT_EQ(agent_mode("w/f"), 0755);  // setuid stripped
  EXPECT_EQ(as_agent(::truncate, rf.c_str(), 0), EACCES);
  EXPECT_EQ(as_agent(::truncate, wf.c_str(), 2), 0);
  EXPECT_EQ(as_agent(::chown, wf.c_str(), 0, 0), EPERM);
  EXPECT_EQ(as_agent(::setxattr, wf.c_str(), "user.k", "v", 1, 0), 0);
  EXPECT_EQ(as_agent(::setxattr, rf.c_str(), "user.k", "v", 1, 0), EACCES);
  EXPECT_EQ(as_root(::setxattr(wf.c_str(), "security.evil", "v", 1, 0)), EPERM);
  EXPECT_EQ(as_root(::setxattr(wf.c_str(), "trusted.evil", "v", 1, 0)), EPERM);
  char value[8] = {};
  EXPECT_EQ(::getxattr(wf.c_str(), "user.k", value, sizeof value), 1);
  EXPECT_EQ(value[0], 'v');
  // No security labels here: "not supported" (GNU ls then stops probing this device),
  // while other missing attributes are simply absent.
  errno = 0;
  EXPECT_EQ(::lgetxattr(rf.c_str(), "security.selinux", value, sizeof value), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  // No POSIX ACLs either: "not supported", so GNU ls stops asking after one file.
  errno = 0;
  EXPECT_EQ(::getxattr(rf.c_str(), "system.posix_acl_access", value, sizeof value), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(as_agent(::getxattr, wf.c_str(), "system.posix_acl_access", nullptr, 0), EOPNOTSUPP);
  errno = 0;
  EXPECT_EQ(::getxattr(wf.c_str(), "trusted.x", value, sizeof value), -1);
  EXPECT_EQ(errno, ENODATA);
  struct stat st;
  ASSERT_EQ(::stat(base_path("w/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4);  // the base is never modified
  EXPECT_EQ(st.st_mode & 07777, 0644);
}

TEST_F(Levels, ReaddirShowsOnlyVisibleNames) {
  std::vector<std::string> root = agent_listing(".");
  std::sort(root.begin(), root.end());
  EXPECT_EQ(root, (std::vector<std::string>{"r", "v", "w"}));
  std::vector<std::string> w = agent_listing("w");
  std::sort(w.begin(), w.end());
  EXPECT_EQ(w, (std::vector<std::string>{"f", "sub"}));
}

TEST_F(Levels, DaemonChecksEvenWhenModeBitsAllow) {
  // Root bypasses mode bits in the kernel: these answers come from the daemon alone.
  char byte;
  const int view_fd = ::open(at("v/f").c_str(), O_RDONLY);
  EXPECT_EQ(as_root(::read(view_fd, &byte, 1)), EACCES);
  ::close(view_fd);
  const int read_fd = ::open(at("r/f").c_str(), O_WRONLY);
  EXPECT_EQ(as_root(::write(read_fd, "x", 1)), EACCES);
  ::close(read_fd);
  EXPECT_EQ(as_root(::open(at("r/new").c_str(), O_CREAT | O_WRONLY, 0644)), EACCES);
  EXPECT_EQ(as_root(::unlink(at("r/f").c_str())), EACCES);
  EXPECT_EQ(as_root(::mknod(at("w/dev").c_str(), S_IFCHR | 0600, makedev(1, 3))), EPERM);
  EXPECT_EQ(as_root(::mknod(at("w/fifo").c_str(), S_IFIFO | 0600, 0)), 0);
}

// What stat shows of a file must not reveal names or content its level hides.
class PresentedFiles : public MountedFs {
 protected:
  struct stat agent_stat(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::stat(at(rel).c_str(), &st), 0) << rel;  // root may stat: same presentation
    return st;
  }
};

// A codebase file's host link count counted names the agent cannot see: a hidden hard
// link proved to exist, a `view` one shown to share a readable file's content. Names the
// agent linked itself (in upper) keep their real count.
TEST_F(PresentedFiles, LinkCountOfACodebaseFileCountsNoHiddenName) {
  base_file("pub.txt", "hi\n");
  base_dir("secrets");
  base_dir("docs");
  ASSERT_EQ(::link(base_path("pub.txt").c_str(), base_path("secrets/hidden-link").c_str()), 0);
  ASSERT_EQ(::link(base_path("pub.txt").c_str(), base_path("docs/linked").c_str()), 0);
  mount({Rule{"**", Level::kRead}, Rule{"docs/**", Level::kView, 10},
         Rule{"secrets/**", Level::kNone, 100}, Rule{"out/**", Level::kWrite, 10}});
  EXPECT_EQ(agent_stat("pub.txt").st_nlink, 1u);
  EXPECT_EQ(agent_stat("docs/linked").st_nlink, 1u);
  EXPECT_EQ(agent_sh("mkdir out && echo a > out/a && ln out/a out/b"), 0);
  EXPECT_EQ(agent_stat("out/a").st_nlink, 2u);
  EXPECT_EQ(agent_stat("out/b").st_nlink, 2u);
}

// A `view` file's host block count showed its holes (where the content is zero): view
// presents the blocks of a dense file of its size. A readable one keeps the host's.
TEST_F(PresentedFiles, BlocksOfAViewFileFollowItsSizeOnly) {
  base_file("docs/dense.bin", std::string(1 << 20, '\0'));
  for (const char* sparse : {"docs/sparse.bin", "sparse.bin"}) {
    base_file(sparse, "");
    ASSERT_EQ(::truncate(base_path(sparse).c_str(), 1 << 20), 0);
  }
  base_file("docs/odd.txt", std::string(5000, 'x'));
  mount({Rule{"**", Level::kRead}, Rule{"docs/**", Level::kView, 10}});
  EXPECT_EQ(agent_stat("docs/sparse.bin").st_blocks, 2048);
  EXPECT_EQ(agent_stat("docs/dense.bin").st_blocks, 2048);
  EXPECT_EQ(agent_stat("docs/odd.txt").st_blocks, 16);  // two 4 KiB blocks
  EXPECT_EQ(agent_stat("sparse.bin").st_blocks, 0);
  EXPECT_EQ(agent_stat("docs/sparse.bin").st_size, 1 << 20);
}

}  // namespace
}  // namespace agentfense::fs::testing

namespace agentfense::fs::testing {
namespace {

class HiddenParents : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    base_file("src/a/b.py", "print()\n");
    base_file("src/a/c.txt", "no");
    base_file("src/hidden/x.txt", "no");
    base_file("src/deep/er/z.py", "z\n");
    mount({policy::Rule{"/src/**/*.py", policy::Level::kRead}});
  }
};

TEST_F(HiddenParents, NoneDirectoryWithVisibleDescendantIsTraversable) {
  EXPECT_EQ(agent_listing("."), (std::vector<std::string>{"src"}));
  EXPECT_EQ(agent_listing("src"), (std::vector<std::string>{"a", "deep"}));
  EXPECT_EQ(agent_listing("src/a"), (std::vector<std::string>{"b.py"}));
  std::string out;
  EXPECT_EQ(agent_sh("cat src/a/b.py src/deep/er/z.py", &out), 0);
  EXPECT_EQ(out, "print()\nz\n");
  const std::string hidden = at("src/hidden"), txt = at("src/a/c.txt");
  struct stat st;
  EXPECT_EQ(as_agent(::stat, hidden.c_str(), &st), ENOENT);
  EXPECT_EQ(as_agent(::stat, txt.c_str(), &st), ENOENT);
  ASSERT_EQ(::stat(at("src/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555);
  EXPECT_EQ(agent_sh("find . | sort", &out), 0);
  EXPECT_EQ(out,
            ".\n./src\n./src/a\n./src/a/b.py\n./src/deep\n./src/deep/er\n./src/deep/er/z.py\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
