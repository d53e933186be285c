// The speed design depends on kernel behaviour: after one ENOSYS the kernel must stop
// sending OPEN/OPENDIR, and repeated listings must not rebuild directory contents.
#include <fcntl.h>
#include <unistd.h>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class KernelCache : public MountedFs {};

TEST_F(KernelCache, OpenAndOpendirAreAskedAtMostOnce) {
  for (int i = 0; i < 20; ++i) base_file("src/f" + std::to_string(i), "content");
  mount({Rule{"/**", Level::kRead}});
  ASSERT_EQ(agent_sh("for i in 1 2 3; do cat src/* >/dev/null; ls src >/dev/null; done"), 0);
  EXPECT_LE(session().counters().open.load(), 1u);
  EXPECT_LE(session().counters().opendir.load(), 1u);
  // src and the root: each listing built once however often it is read.
  EXPECT_LE(session().counters().listing_builds.load(), 2u);
  // Six listings of src (three globs, three ls): the kernel keeps the listing it read.
  EXPECT_LE(session().counters().readdir.load(), 4u);
}

TEST_F(KernelCache, ListingIsRebuiltAfterAChange) {
  base_file("w/a", "a");
  mount({Rule{"/**", Level::kWrite}});
  std::string out;
  ASSERT_EQ(agent_sh("ls w && touch w/b && ls w", &out), 0);
  EXPECT_EQ(out, "a\na\nb\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
