// Requests travel over io_uring when the kernel offers it (fs/uring_transport.h), and the
// fs works the same through /dev/fuse alone (the whole suite runs both ways, see
// CMakeLists.txt). The kernel offers io_uring only with fuse.enable_uring=Y, which
// scripts/setup.sh sets; CI runs it.
#include <fstream>
#include <string>

#include "fs/uring_transport.h"
#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

bool kernel_offers_uring() {
  std::ifstream param("/sys/module/fuse/parameters/enable_uring");
  std::string value;
  return param >> value && value == "Y";
}

bool uring_disabled_here() {
  const char* env = std::getenv("AF_TEST_FUSE_URING");
  return env && std::string(env) == "0";
}

class Transport : public MountedFs {};

TEST_F(Transport, RequestsTravelOverIoUringWhenTheKernelOffersIt) {
  if (!kernel_offers_uring()) GTEST_SKIP() << "fuse.enable_uring is off on this host";
  base_file("src/a.txt", "hello\n");
  mount({Rule{"/**", Level::kWrite}});
  ASSERT_EQ(agent_sh("true"), 0);  // the kernel's INIT is answered by now
  if (uring_disabled_here()) {
    EXPECT_EQ(session().uring(), nullptr);
    return;
  }
  ASSERT_NE(session().uring(), nullptr);
  const std::uint64_t before = session().uring()->served();
  std::string out;
  // Lookups, reads, creates, writes and a large write (payload beyond what each entry
  // keeps resident) all answered through the rings, with the right data.
  ASSERT_EQ(agent_sh("cat src/a.txt && mkdir d && echo x > d/f && cat d/f && "
                     "head -c 3000000 /dev/zero | tr '\\0' y > big && wc -c < big && "
                     "tr -d y < big | wc -c && ls d",
                     &out),
            0);
  EXPECT_EQ(out, "hello\nx\n3000000\n0\nf\n");
  EXPECT_GE(session().uring()->served() - before, 10u);
}

}  // namespace
}  // namespace agentfense::fs::testing
