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

class PrewarmWalk : public MountedFs {};

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

}  // namespace
}  // namespace agentfense::fs::testing
