// The speed design depends on kernel behaviour: after one ENOSYS the kernel must stop
// sending OPEN/OPENDIR, and repeated listings must not rebuild directory contents.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class KernelCache : public MountedFs {
 protected:
  void files(int count) {
    for (int i = 0; i < count; ++i) {
      base_file("src/f" + std::to_string(i), "content of f" + std::to_string(i) + "\n");
    }
  }
  // The f* files of src/ in the kernel's listing order (ls -U: no sorting).
  std::vector<std::string> listed_order() {
    std::string out;
    EXPECT_EQ(agent_sh("ls -U src | grep '^f'", &out), 0);
    std::vector<std::string> names;
    for (std::size_t pos = 0, end; (end = out.find('\n', pos)) != std::string::npos;
         pos = end + 1) {
      names.push_back(out.substr(pos, end - pos));
    }
    return names;
  }
  // Reads the first listed f* file, then all of them; returns how many READ requests the
  // second step sent, having checked every byte read.
  std::uint64_t reads_after_first_file(int count) {
    const std::vector<std::string> order = listed_order();
    EXPECT_EQ(order.size(), static_cast<std::size_t>(count));
    EXPECT_EQ(agent_sh("cat src/" + order.front() + " >/dev/null"), 0);
    const std::uint64_t before = session().counters().reads.load();
    std::string all;
    EXPECT_EQ(agent_sh("cat src/f*", &all), 0);
    std::vector<std::string> sorted = order;
    std::sort(sorted.begin(), sorted.end());  // the shell's glob order
    std::string expected;
    for (const std::string& name : sorted) expected += "content of " + name + "\n";
    EXPECT_EQ(all, expected);
    return session().counters().reads.load() - before;
  }
};

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

TEST_F(KernelCache, FirstReadInADirectoryPushesTheFilesListedAfterIt) {
  files(12);
  mount({Rule{"/**", Level::kRead}});
  ASSERT_EQ(agent_sh("ls -l src >/dev/null"), 0);  // the kernel learns every node
  // The first listed file's READ pushed the 11 listed after it: no READ for any of them.
  EXPECT_EQ(reads_after_first_file(12), 0u);
  EXPECT_EQ(session().counters().prefetched_files.load(), 11u);
}

TEST_F(KernelCache, WithoutPrefetchEveryFirstReadIsARoundTrip) {
  prefetch_ = false;  // the baseline that shows the counter above can see READs
  files(12);
  mount({Rule{"/**", Level::kRead}});
  ASSERT_EQ(agent_sh("ls -l src >/dev/null"), 0);
  EXPECT_EQ(reads_after_first_file(12), 11u);
  EXPECT_EQ(session().counters().prefetched_files.load(), 0u);
}

TEST_F(KernelCache, OnlyUnchangeableReadableFilesArePushed) {
  // Pushed: the read-level files. Never: hidden and view-level files (not readable),
  // writable ones (a push could overwrite data a write just cached), large ones.
  files(3);
  base_file("src/secret.key", "hidden");
  base_file("src/names.txt", "view only");
  base_file("src/out.txt", "writable");
  base_file("src/big.bin", std::string(300 * 1024, 'x'));
  mount({Rule{"/**", Level::kRead}, Rule{"/src/*.key", Level::kNone, 10},
         Rule{"/src/names.txt", Level::kView, 10}, Rule{"/src/out.txt", Level::kWrite, 10}});
  ASSERT_EQ(agent_sh("ls -l src >/dev/null"), 0);
  // Reading the first listed f* file pushes only the f* files listed after it, wherever
  // the others fall in the listing.
  const std::vector<std::string> order = listed_order();
  ASSERT_EQ(order.size(), 3u);
  ASSERT_EQ(agent_sh("cat src/" + order.front() + " >/dev/null"), 0);
  EXPECT_EQ(session().counters().prefetched_files.load(), 2u);
  std::string out;
  ASSERT_EQ(agent_sh("cat src/out.txt; echo; cat src/f*", &out), 0);
  EXPECT_EQ(out, "writable\ncontent of f0\ncontent of f1\ncontent of f2\n");
}

TEST_F(KernelCache, WritesDoNotAskForTheCapabilityAttributeEachTime) {
  // Without FUSE_HANDLE_KILLPRIV_V2 (kernel_channel.h) every write(2) was preceded by a
  // GETXATTR security.capability round trip: 200 writes, 200 GETXATTRs.
  base_file("w/old", "base content\n");
  mount({Rule{"/**", Level::kWrite}});
  ASSERT_EQ(agent_sh("dd if=/dev/zero of=w/new bs=4k count=200 2>/dev/null && "
                     "for i in $(seq 50); do echo $i; done >> w/old"),
            0);
  EXPECT_TRUE(session().filesystem().kernel_features().killpriv_v2.load());
  EXPECT_GE(session().counters().writes.load(), 250u);  // the writes did reach us
  EXPECT_LE(session().counters().getxattr.load(), 2u);  // once per file at most
  std::string out;
  ASSERT_EQ(agent_sh("stat -c %s w/new && head -1 w/old && tail -1 w/old", &out), 0);
  EXPECT_EQ(out, "819200\nbase content\n50\n");
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
