// Creating, removing and renaming a name is decided by the level of the name itself (both
// ends for rename and link), never by its parent directory's level: every operation at
// every parent/child level combination, as an unprivileged agent, so the kernel's
// mode-bit checks on the parent run first exactly as in a sandbox.
//
// Tree: one directory per parent level, p_none (no rule: shown as a traversable
// directory because children are visible), p_view, p_read and p_write, each holding
// names ending in the child level (f_read, d_write, ...) that `/p_*/*_<level>` rules
// decide.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

constexpr std::array kLevels = {Level::kNone, Level::kView, Level::kRead, Level::kWrite};

std::string name_of(Level level) {
  return std::string(policy::to_string(level));
}

class NameLevels : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    for (const Level parent : kLevels) {
      const std::string p = "p_" + name_of(parent) + "/";
      for (const Level child : kLevels) {
        const std::string c = name_of(child);
        for (const char* file : {"f_", "old_", "x_"}) base_file(p + file + c, "data");
        base_dir(p + "d_" + c);
      }
    }
    std::vector<Rule> rules;
    for (const Level level : {Level::kView, Level::kRead, Level::kWrite}) {
      rules.push_back(Rule{"/p_" + name_of(level), level});  // the directory itself only
    }
    for (const Level level : kLevels) rules.push_back(Rule{"/p_*/*_" + name_of(level), level});
    mount(rules);
  }

  // The mount path of `name` in the directory at level `parent`, built before as_agent forks.
  std::string path_in(Level parent, const std::string& name) const {
    return at("p_" + name_of(parent) + "/" + name);
  }

  // What a name at level `child` answers to an operation that needs it writable: write
  // succeeds; a hidden existing name does not exist (lookup ENOENT); others EACCES.
  static int existing(Level child) {
    if (child == Level::kWrite) return 0;
    return child == Level::kNone ? ENOENT : EACCES;
  }
  // Creating a name: only write succeeds; a hidden name, present or not, is EACCES.
  static int created(Level child) { return child == Level::kWrite ? 0 : EACCES; }
};

TEST_F(NameLevels, CreateMkdirMknodSymlinkFollowTheNewName) {
  for (const Level parent : kLevels) {
    for (const Level child : kLevels) {
      const std::string c = name_of(child);
      SCOPED_TRACE("parent " + name_of(parent) + ", child " + c);
      EXPECT_EQ(
          as_agent(::open, path_in(parent, "new_" + c).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644),
          created(child));
      EXPECT_EQ(as_agent(::mkdir, path_in(parent, "dir_" + c).c_str(), 0755), created(child));
      EXPECT_EQ(as_agent(::mknod, path_in(parent, "fifo_" + c).c_str(), S_IFIFO | 0644, 0),
                created(child));
      EXPECT_EQ(as_agent(::symlink, "f_read", path_in(parent, "ln_" + c).c_str()), created(child));
    }
  }
}

TEST_F(NameLevels, CreatingAHiddenNameIsEaccesWhetherOrNotItExists) {
  for (const Level parent : kLevels) {
    SCOPED_TRACE("parent " + name_of(parent));
    // f_none and d_none exist in the base; nope_none does not.
    for (const char* name : {"f_none", "d_none", "nope_none"}) {
      EXPECT_EQ(as_agent(::open, path_in(parent, name).c_str(), O_CREAT | O_WRONLY, 0644), EACCES)
          << name;
      EXPECT_EQ(as_agent(::mkdir, path_in(parent, name).c_str(), 0755), EACCES) << name;
      struct stat st;
      EXPECT_EQ(as_agent(::lstat, path_in(parent, name).c_str(), &st), ENOENT) << name;
    }
  }
}

TEST_F(NameLevels, UnlinkAndRmdirFollowTheRemovedName) {
  for (const Level parent : kLevels) {
    for (const Level child : kLevels) {
      const std::string c = name_of(child);
      SCOPED_TRACE("parent " + name_of(parent) + ", child " + c);
      EXPECT_EQ(as_agent(::unlink, path_in(parent, "f_" + c).c_str()), existing(child));
      EXPECT_EQ(as_agent(::rmdir, path_in(parent, "d_" + c).c_str()), existing(child));
    }
  }
}

TEST_F(NameLevels, RenameAndLinkNeedWriteAtBothNames) {
  for (const Level parent : kLevels) {
    for (const Level child : kLevels) {
      const std::string c = name_of(child);
      SCOPED_TRACE("parent " + name_of(parent) + ", child " + c);
      // Both names at `child`.
      EXPECT_EQ(as_agent(::rename, path_in(parent, "old_" + c).c_str(),
                         path_in(parent, "moved_" + c).c_str()),
                existing(child));
      // A writable source onto a `child` name, and a `child` source onto a writable name.
      if (child != Level::kWrite) {
        EXPECT_EQ(as_agent(::rename, path_in(parent, "x_write").c_str(),
                           path_in(parent, "into_" + c).c_str()),
                  EACCES);
        EXPECT_EQ(as_agent(::rename, path_in(parent, "x_" + c).c_str(),
                           path_in(parent, "out_write").c_str()),
                  existing(child));
        EXPECT_EQ(as_agent(::link, path_in(parent, "x_" + c).c_str(),
                           path_in(parent, "hard_write").c_str()),
                  existing(child));
      }
      EXPECT_EQ(as_agent(::link, path_in(parent, "f_write").c_str(),
                         path_in(parent, "hard_" + c).c_str()),
                created(child));
    }
  }
}

TEST_F(NameLevels, RenameAcrossParentsOfDifferentLevels) {
  for (const Level from : kLevels) {
    for (const Level to : kLevels) {
      if (from == to) continue;
      SCOPED_TRACE("from parent " + name_of(from) + " to parent " + name_of(to));
      const std::string source = at("p_" + name_of(from) + "/x_write");
      const std::string target = at("p_" + name_of(to) + "/from_" + name_of(from) + "_write");
      const std::string back = at("p_" + name_of(from) + "/x_write");
      ASSERT_EQ(as_agent(::rename, source.c_str(), target.c_str()), 0);
      ASSERT_EQ(as_agent(::rename, target.c_str(), back.c_str()), 0);
    }
  }
}

TEST_F(NameLevels, TheParentKeepsItsOwnLevel) {
  for (const Level parent : {Level::kNone, Level::kView, Level::kRead}) {
    const std::string dir = at("p_" + name_of(parent));
    SCOPED_TRACE("parent " + name_of(parent));
    EXPECT_EQ(as_agent(::rename, dir.c_str(), at("renamed").c_str()), EACCES);
    EXPECT_EQ(as_agent(::rmdir, dir.c_str()), EACCES);
    EXPECT_EQ(as_agent(::chmod, dir.c_str(), 0777), EPERM);
    // Presented writable for its owner (the agent): names in it may be written.
    struct stat st;
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755);
  }
  // The daemon alone (root ignores mode bits) refuses the same.
  EXPECT_EQ(as_root(::rename(at("p_read").c_str(), at("renamed").c_str())), EACCES);
  EXPECT_EQ(as_root(::open(at("p_read/new_read").c_str(), O_CREAT | O_WRONLY, 0644)), EACCES);
  EXPECT_EQ(as_root(::unlink(at("p_view/f_view").c_str())), EACCES);
}

// The two policies issue 11 names: a rule on the children of a read directory, and
// full-access, whose "**/*" matches everything but the workspace root.
class WriteOnChildren : public MountedFs {};

TEST_F(WriteOnChildren, OutputStarCreatesInAReadDirectory) {
  base_file("output/old.txt", "old");
  base_file("README.md", "readme");
  mount({Rule{"**/*", Level::kRead}, Rule{"/output/*", Level::kWrite}});
  std::string out;
  EXPECT_EQ(agent_sh("echo done > output/report.txt && mkdir output/sub && rm output/old.txt && "
                     "cat output/report.txt && ls output",
                     &out),
            0);
  EXPECT_EQ(out, "done\nreport.txt\nsub\n");
  // output/sub/x is matched by no write rule; output itself stays read.
  EXPECT_NE(agent_sh("echo x > output/sub/x"), 0);
  EXPECT_NE(agent_sh("echo x > README.md"), 0);
  EXPECT_NE(agent_sh("echo x > new-at-root"), 0);
  EXPECT_NE(agent_sh("mv output output2"), 0);
  EXPECT_EQ(agent_sh("stat -c '%A' output output/sub README.md .", &out), 0);
  // output: read, but names in it may be written; output/sub: write; the root: read.
  EXPECT_EQ(out, "drwxr-xr-x\ndrwxr-xr-x\n-r--r--r--\ndr-xr-xr-x\n");
}

TEST_F(WriteOnChildren, FullAccessCreatesAtTheRoot) {
  base_file("a.txt", "a");
  mount({Rule{"**/*", Level::kWrite}});
  std::string out;
  EXPECT_EQ(agent_sh("mkdir out2 && echo x > out2/f && echo y > b.txt && mv b.txt c.txt && "
                     "rm a.txt && ls",
                     &out),
            0);
  EXPECT_EQ(out, "c.txt\nout2\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
