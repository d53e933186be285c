// The warm-up walk (fs/prewarm_walk.h) must leave the kernel holding what an agent's
// first command asks for: here, the attributes of everything it read or listed. A READ
// or READDIR that reaches the daemon makes the kernel drop the inode's atime, and the
// next stat of it is a GETATTR round trip (after the walk, a first `git status` of a
// 3,000-file checkout sent 3,008 of them).
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "common/unique_fd.h"
#include "fs/prewarm_walk.h"
#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class PrewarmWalk : public MountedFs {
 protected:
  // Mounts the base as writable (the prefetcher then pushes nothing: the walk READs
  // every file itself) and walks it to the end.
  void mount_and_walk() {
    mount({Rule{"/**", Level::kWrite}});
    const UniqueFd root(::open(mnt_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root) << errno;
    ASSERT_TRUE(prewarm_walk(root.get(), PrewarmBudget{}).complete);
  }
};

TEST_F(PrewarmWalk, AfterTheWalkAStatOfWhatItReadOrListedIsNoRoundTrip) {
  std::string paths = ". d0 d1 d2";
  for (int d = 0; d < 3; ++d) {
    for (int f = 0; f < 10; ++f) {
      const std::string rel = "d" + std::to_string(d) + "/f" + std::to_string(f);
      base_file(rel, "content of " + rel + "\n");
      paths += " " + rel;
    }
  }
  // Writable: the prefetcher pushes none of them, so the walk READs every file.
  mount({Rule{"/**", Level::kWrite}});
  const UniqueFd root(::open(mnt_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root) << errno;
  const PrewarmTotals walked = prewarm_walk(root.get(), PrewarmBudget{});
  ASSERT_TRUE(walked.complete);
  ASSERT_EQ(walked.files_read, 30u);
  ASSERT_GE(session().counters().reads.load(), 30u);  // the reads did reach the daemon

  const std::uint64_t before = session().counters().getattr.load();
  std::string out;
  // %X (atime): coreutils asks statx for the fields its format prints, and lstat(2), as
  // git and every other tool call it, asks for all of them.
  ASSERT_EQ(agent_sh("stat -c '%s %X' " + paths + " | wc -l", &out), 0);
  EXPECT_EQ(out, "34\n");
  EXPECT_EQ(session().counters().getattr.load() - before, 0u);
}

// `git status` opens .gitignore in every directory it scans for untracked files; in a
// checkout without them that is one negative LOOKUP per directory (1,055 of the 1,076
// requests of a first `git status` after the walk over the 20,000-file bench tree). In a
// git work tree the walk looks that name up itself, so the kernel holds the answer.
TEST_F(PrewarmWalk, InAGitWorkTreeTheWalkLeavesEveryDirectorysGitignoreAnswered) {
  base_file(".git/HEAD", "ref: refs/heads/main\n");
  base_file(".gitignore", "*.o\n");
  base_file("a/x.c", "x\n");
  base_file("a/b/y.c", "y\n");
  base_file("a/b/.gitignore", "y.o\n");
  base_file("c/z.c", "z\n");
  ASSERT_NO_FATAL_FAILURE(mount_and_walk());

  const std::uint64_t before = session().counters().lookups.load();
  std::string out;
  // What git does in each directory: open .gitignore, present or not.
  ASSERT_EQ(agent_sh("for d in . a a/b c; do cat $d/.gitignore 2>/dev/null; done; true", &out), 0);
  EXPECT_EQ(out, "*.o\ny.o\n");
  EXPECT_EQ(session().counters().lookups.load() - before, 0u);
}

// Outside a git work tree nobody asks for .gitignore, and the walk does not either: the
// agent's first lookups of it are the first ones.
TEST_F(PrewarmWalk, OutsideAGitWorkTreeTheWalkLeavesGitignoreAlone) {
  base_file("a/x.c", "x\n");
  base_file("c/z.c", "z\n");
  ASSERT_NO_FATAL_FAILURE(mount_and_walk());
  const std::uint64_t before = session().counters().lookups.load();
  ASSERT_EQ(agent_sh("cat a/.gitignore c/.gitignore 2>/dev/null; true"), 0);
  EXPECT_EQ(session().counters().lookups.load() - before, 2u);
}

}  // namespace
}  // namespace agentfense::fs::testing
