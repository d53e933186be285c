// Copy-on-write behaviour: deletes, recreation, directory renames, symlink escapes; the
// base is never modified and layer bookkeeping never shows up in the mount.
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class Layering : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    base_file("data/a.txt", "a");
    base_file("data/b/c.txt", "c");
    base_file("data/b/d.key", "hidden");
    base_file("proj/main.py", "print(1)\n");
    base_file("proj/creds.key", "hidden");
    base_file(".env", "TOKEN=1");
    base_dir("empty");
    digest_ = base_digest();
    mount({Rule{"/**", Level::kWrite}, Rule{"**/*.key", Level::kNone, 10},
           Rule{"/.env", Level::kNone, 10}});
  }
  void TearDown() override {
    unmount();
    EXPECT_EQ(base_digest(), digest_) << "the base tree was modified";
    MountedFs::TearDown();
  }
  std::string digest_;
};

TEST_F(Layering, RmRfThenRecreateIsEmpty) {
  std::string out;
  EXPECT_EQ(agent_sh("rm -rf data && mkdir data && ls -A data", &out), 0);
  EXPECT_EQ(out, "");
  EXPECT_EQ(agent_sh("echo new > data/n && cat data/n", &out), 0);
  EXPECT_EQ(out, "new\n");
}

TEST_F(Layering, MvOfBaseDirectoryFallsBackToCopy) {
  std::string out;
  EXPECT_EQ(agent_sh("mv proj moved && cat moved/main.py && ls -A moved && ls -A", &out), 0) << out;
  EXPECT_EQ(out, "print(1)\nmain.py\ndata\nempty\nmoved\n");
  EXPECT_TRUE(std::ifstream(base_path("proj/creds.key")).good());  // hidden stays in base
}

TEST_F(Layering, RenameOfUpperDirectoryIsAtomic) {
  std::string out;
  EXPECT_EQ(agent_sh("mkdir -p n/m && echo x > n/m/f && mv n z && cat z/m/f && ls -A", &out), 0);
  EXPECT_EQ(out, "x\ndata\nempty\nproj\nz\n");
}

// Another sandbox over the same codebase commits names into the base while this one
// holds negative dentries for them: a create without O_EXCL opens the file as it now
// is (truncating, or appending), O_EXCL still refuses. It used to answer EEXIST.
TEST_F(Layering, CreateOverANameCommittedIntoTheBaseMeanwhileOpensIt) {
  std::string out;
  ASSERT_NE(agent_sh("test -e data/late || test -e data/later || test -e data/excl"), 0);
  base_file("data/late", "committed by another sandbox\n");
  base_file("data/later", "base\n");
  base_file("data/excl", "base\n");
  digest_ = base_digest();  // those were the other sandbox's commits
  EXPECT_EQ(agent_sh("echo mine > data/late && cat data/late", &out), 0) << out;
  EXPECT_EQ(out, "mine\n");
  EXPECT_EQ(agent_sh("echo more >> data/later && cat data/later", &out), 0) << out;
  EXPECT_EQ(out, "base\nmore\n");
  EXPECT_NE(agent_sh("set -C; echo x > data/excl", &out), 0);
  EXPECT_EQ(agent_sh("cat data/excl", &out), 0);
  EXPECT_EQ(out, "base\n");
}

// The node table's renames (inode_table.cc move): a file's costs a lookup, a directory's
// moves every known descendant; each is checked by what the names show afterwards.
TEST_F(Layering, RenamesKeepEveryKnownNameRight) {
  std::string out;
  // Atomic saves over a file the kernel knows, several times.
  EXPECT_EQ(agent_sh("cd empty && echo v0 > f && cat f >/dev/null && "
                     "for i in 1 2 3; do echo v$i > .f.tmp && mv .f.tmp f; done && "
                     "cat f && ls -A",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "v3\nf\n");
  // A hard link's second name moves alone; the first still reads the same file.
  EXPECT_EQ(agent_sh("cd empty && ln f g && mv g h && echo w >> h && cat f && ls -A", &out), 0)
      << out;
  EXPECT_EQ(out, "v3\nw\nf\nh\n");
  // A directory over an empty one it replaces, with known children moving along.
  EXPECT_EQ(agent_sh("mkdir -p src/x dst && echo k > src/x/k && cat src/x/k >/dev/null && "
                     "ls dst && mv -T src dst && cat dst/x/k && ls -A dst/x && "
                     "test ! -e src && echo gone",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "k\nk\ngone\n");
  // A file renamed into a directory and back under another name.
  EXPECT_EQ(agent_sh("mv empty/f dst/x/f2 && mv dst/x/f2 empty/f3 && cat empty/f3 && "
                     "ls -A empty dst/x",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "v3\nw\ndst/x:\nk\n\nempty:\nf3\nh\n");
}

TEST_F(Layering, CopyUpModifiesOnlyTheUpperCopy) {
  std::string out;
  EXPECT_EQ(agent_sh("echo more >> data/a.txt && cat data/a.txt", &out), 0);
  EXPECT_EQ(out, "amore\n");
  EXPECT_EQ(agent_sh(": > data/b/c.txt && wc -c < data/b/c.txt", &out), 0);
  EXPECT_EQ(out, "0\n");
  std::ifstream upper(state_ + "/upper/data/a.txt");
  EXPECT_TRUE(upper.good());
}

TEST_F(Layering, HardLinksLookedUpSeparatelyStayCoherent) {
  // After the kernel drops both dentries, each name is looked up on its own. Whatever
  // nodes the names get, data written through one name is what the other one reads.
  std::string out;
  ASSERT_EQ(agent_sh("echo v1 > empty/a && ln empty/a empty/b"), 0);
  struct stat dir;
  ASSERT_EQ(::stat(at("empty").c_str(), &dir), 0);  // st_ino is our node id
  for (const char* name : {"a", "b"}) {
    // ENOENT would only mean the kernel had dropped it already.
    (void)fuse_lowlevel_notify_inval_entry(session().raw(), dir.st_ino, name, 1);
  }
  // Both cached, and their attributes fresh (a READ marks atime stale; stat renews it).
  ASSERT_EQ(agent_sh("cat empty/a empty/b && stat empty/a empty/b >/dev/null", &out), 0);
  EXPECT_EQ(out, "v1\nv1\n");
  ASSERT_EQ(agent_sh("echo v2 >> empty/b && cat empty/a", &out), 0);
  EXPECT_EQ(out, "v1\nv2\n");
  ASSERT_EQ(agent_sh("stat empty/b >/dev/null && echo new > empty/a && cat empty/b && "
                     "stat -c %s empty/b",
                     &out),
            0);
  EXPECT_EQ(out, "new\n4\n");
}

// The fd cache kept small, so a node whose fd was evicted must reach its host file again
// through a name (hard links), or through an fd kept for it (deleted while open).
class FewCachedFds : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    rlimit limit = saved_;
    limit.rlim_cur = 256;  // fd cache: 128 entries (filesystem.cc)
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
    mount({Rule{"/**", Level::kWrite}});
  }
  void TearDown() override {
    MountedFs::TearDown();
    // Later tests in this process (run without ctest) need the full limit back.
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &saved_), 0);
  }
  // Drops the kernel's cached attributes and pages of `rel`, so the next access asks us.
  void forget_cached(const std::string& rel) {
    struct stat st;
    ASSERT_EQ(::stat(at(rel).c_str(), &st), 0);  // st_ino is our node id
    ASSERT_EQ(fuse_lowlevel_notify_inval_inode(session().raw(), st.st_ino, 0, 0), 0);
  }
  rlimit saved_{};
};

TEST_F(FewCachedFds, HardLinkedFileStaysReachableAfterItsFirstNameIsRemoved) {
  // What git does for every object: write a temporary name, link the final one, unlink
  // the temporary one. 200 files push every early fd out of the cache.
  ASSERT_EQ(agent_sh("mkdir objs && for i in $(seq 200); do echo $i > tmp_$i && "
                     "ln tmp_$i objs/o_$i && rm tmp_$i; done"),
            0);
  forget_cached("objs/o_1");
  std::string out;
  ASSERT_EQ(agent_sh("cat objs/o_1 objs/o_200 && wc -c < objs/o_1 && ls | grep -c tmp_", &out), 1);
  EXPECT_EQ(out, "1\n200\n2\n0\n");
}

TEST_F(FewCachedFds, RenamingOneHardLinkNameLeavesTheOthers) {
  ASSERT_EQ(agent_sh("echo data > a && ln a b && mv b c && mv a d"), 0);
  std::string out;
  ASSERT_EQ(agent_sh("ls && rm d && for i in $(seq 150); do : > f$i; done"), 0);
  forget_cached("c");
  ASSERT_EQ(agent_sh("cat c && echo more >> c && ls | grep -v '^f'", &out), 0);
  EXPECT_EQ(out, "data\nc\n");
  ASSERT_EQ(agent_sh("cat c", &out), 0);
  EXPECT_EQ(out, "data\nmore\n");
}

TEST_F(FewCachedFds, DeletedFileStaysUsableWhileOpen) {
  // tmpfile()-style: open, unlink, keep using it. 200 other files evict its cached fd.
  std::string out;
  ASSERT_EQ(agent_sh("exec 3<>scratch && echo hello >&3 && rm scratch && "
                     "for i in $(seq 200); do echo x > g$i; done && echo world >&3 && "
                     "cat /proc/self/fd/3 && test ! -e scratch",
                     &out),
            0);
  EXPECT_EQ(out, "hello\nworld\n");
}

TEST_F(FewCachedFds, FileReplacedByRenameStaysUsableWhileOpen) {
  std::string out;
  ASSERT_EQ(agent_sh("echo old > conf && echo new > conf.tmp && exec 3<>conf && "
                     "mv conf.tmp conf && for i in $(seq 200); do echo x > g$i; done && "
                     "cat <&3 && echo more >&3 && cat /proc/self/fd/3 conf",
                     &out),
            0);
  EXPECT_EQ(out, "old\nold\nmore\nnew\n");
}

TEST_F(Layering, DeleteAndRecreateFile) {
  std::string out;
  EXPECT_EQ(agent_sh("rm data/a.txt; ls -A data; echo again > data/a.txt; cat data/a.txt", &out),
            0);
  EXPECT_EQ(out, "b\nagain\n");
}

TEST_F(Layering, SymlinkCannotReachHiddenFiles) {
  std::string out;
  EXPECT_NE(agent_sh("ln -s ../.env data/x && cat data/x", &out), 0);
  EXPECT_EQ(out, "");
  EXPECT_NE(agent_sh("ln -s /etc/passwd-nonexistent data/y && cat data/y"), 0);
  EXPECT_EQ(agent_sh("readlink data/x", &out), 0);
  EXPECT_EQ(out, "../.env\n");
}

TEST_F(Layering, RenameAcrossLevelsIsRefused) {
  // A directory holding hidden entries in the base cannot be renamed as a unit.
  const std::string from = at("data/b"), to = at("data/b2");
  EXPECT_EQ(as_agent(::rename, from.c_str(), to.c_str()), EXDEV);
  const std::string file = at("data/a.txt"), hidden = at("data/a.key");
  EXPECT_EQ(as_agent(::rename, file.c_str(), hidden.c_str()), EACCES);
  EXPECT_EQ(as_agent(::link, file.c_str(), hidden.c_str()), EACCES);
}

TEST_F(Layering, JournalIsNotVisibleInTheMount) {
  std::string out;
  EXPECT_EQ(agent_sh("rm -rf data proj/main.py && mkdir data && ls -A . data proj", &out), 0);
  EXPECT_EQ(out, ".:\ndata\nempty\nproj\n\ndata:\n\nproj:\n");
}

TEST_F(Layering, AuditRecordsDenials) {
  const std::string hidden = at(".env");
  EXPECT_EQ(as_agent(::open, hidden.c_str(), O_RDONLY), ENOENT);
  unmount();
  std::ifstream audit(audit_);
  const std::string text((std::istreambuf_iterator<char>(audit)), {});
  EXPECT_NE(text.find("\"path\":\"/.env\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"outcome\":\"denied\",\"errno\":\"ENOENT\",\"reason\":\"hidden\""),
            std::string::npos);
}

}  // namespace
}  // namespace agentfense::fs::testing

namespace agentfense::fs::testing {
namespace {

class LevelChangingRename : public MountedFs {};

TEST_F(LevelChangingRename, DirectoryWhoseChildrenWouldChangeLevelIsRefused) {
  base_dir("w");
  mount({Rule{"/**", Level::kWrite}, Rule{"/w/b/*.txt", Level::kRead, 5}});
  std::string out;
  ASSERT_EQ(agent_sh("mkdir w/a && echo x > w/a/x.txt && mkdir w/c && echo y > w/c/y.md"), 0);
  const std::string a = at("w/a"), b = at("w/b"), c = at("w/c");
  EXPECT_EQ(as_agent(::rename, a.c_str(), b.c_str()), EXDEV);
  EXPECT_EQ(as_agent(::rename, c.c_str(), b.c_str()), 0);  // no level change
  EXPECT_EQ(agent_sh("cat w/b/y.md", &out), 0);
  EXPECT_EQ(out, "y\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
