// The write layer on another filesystem than the base: the usual case for
// `agentfense run` as root on a host whose /run is a tmpfs, and for a server whose state
// directory is on another disk than its codebases. Copy-up must copy the bytes itself
// where the kernel cannot (copy_file_range across filesystems fails with EXDEV); it
// used to answer EIO to every append to a base file.
#include <sys/mount.h>
#include <sys/stat.h>

#include <string>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class WriteLayerOnAnotherFs : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    ASSERT_EQ(::mkdir(state_.c_str(), 0700), 0);
    ASSERT_EQ(::mount("tmpfs", state_.c_str(), "tmpfs", 0, "mode=0700"), 0);
    struct stat base_st {
    }, state_st{};
    ASSERT_EQ(::stat(base_.c_str(), &base_st), 0);
    ASSERT_EQ(::stat(state_.c_str(), &state_st), 0);
    ASSERT_NE(base_st.st_dev, state_st.st_dev) << "the layers must be on two filesystems";
    base_file("notes.txt", "hello\n");
    // Larger than one copy chunk, with a tail that is not a multiple of anything.
    big_.reserve(3 * 1024 * 1024 + 7);
    for (std::size_t i = 0; big_.size() < 3 * 1024 * 1024 + 7; ++i) big_ += char('a' + i % 26);
    base_file("src/big.bin", big_);
    base_file("src/small.txt", "small\n");
    digest_ = base_digest();
    mount({Rule{"/**", Level::kWrite}});
  }
  void TearDown() override {
    unmount();
    EXPECT_EQ(::umount2(state_.c_str(), MNT_DETACH), 0);
    EXPECT_EQ(base_digest(), digest_) << "the base tree was modified";
    MountedFs::TearDown();
  }
  std::string big_;
  std::string digest_;
};

TEST_F(WriteLayerOnAnotherFs, AppendingToABaseFileCopiesItUp) {
  std::string out;
  EXPECT_EQ(agent_sh("echo more >> notes.txt && cat notes.txt", &out), 0) << out;
  EXPECT_EQ(out, "hello\nmore\n");
}

TEST_F(WriteLayerOnAnotherFs, ALargeFileIsCopiedWhole) {
  std::string out;
  // One byte changed in place: everything else must be the base's bytes.
  ASSERT_EQ(agent_sh("printf Z | dd of=src/big.bin bs=1 seek=1048576 conv=notrunc 2>/dev/null "
                     "&& cat src/big.bin",
                     &out),
            0);
  std::string expected = big_;
  expected[1048576] = 'Z';
  EXPECT_EQ(out.size(), expected.size());
  EXPECT_TRUE(out == expected) << "the copied-up file differs from the base beyond the edit";
}

TEST_F(WriteLayerOnAnotherFs, ChangingABaseFilesModeCopiesItUp) {
  std::string out;
  EXPECT_EQ(
      agent_sh("chmod 600 src/small.txt && cat src/small.txt && stat -c %a src/small.txt", &out), 0)
      << out;
  EXPECT_EQ(out, "small\n600\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
