// The write-layer quota (fs/write_quota.h): writing without end inside a sandbox gets
// ENOSPC at the limit (issue 9: `dd if=/dev/zero` filled the host disk through upper),
// the daemon lives on, deleting frees quota again, and statfs (`df`) reports the quota.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "control_fixture.h"
#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;

// Bytes the host really allocated for everything under `dir` (what the disk lost).
std::uint64_t host_allocated(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st;
    if (::lstat(entry.path().c_str(), &st) == 0)
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

std::uint64_t used_bytes_of(const std::string& mountpoint) {
  struct statvfs st {};
  EXPECT_EQ(::statvfs(mountpoint.c_str(), &st), 0);
  return (st.f_blocks - st.f_bfree) * st.f_frsize;
}

// Usage once `expected` is reached, or after 5 s: a removed file's data is freed when the
// kernel forgets it, which it tells the daemon asynchronously.
std::uint64_t settled_used_bytes(const std::string& mountpoint, std::uint64_t expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (used_bytes_of(mountpoint) != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return used_bytes_of(mountpoint);
}

class Quota : public MountedFs {
 protected:
  void SetUp() override {
    MountedFs::SetUp();
    base_file("big.bin", std::string(2 * kMiB, 'b'));
    base_file("small.txt", "small\n");
    base_dir("out");
    digest_ = base_digest();
  }
  void TearDown() override {
    unmount();
    EXPECT_EQ(base_digest(), digest_) << "the base tree was modified";
    MountedFs::TearDown();
  }
  void mount_with(std::uint64_t bytes, std::uint64_t inodes) {
    quota_ = {bytes, inodes};
    mount({Rule{"/**", Level::kWrite}});
  }
  struct statvfs df() {
    struct statvfs st {};
    EXPECT_EQ(::statvfs(mnt_.c_str(), &st), 0);
    return st;
  }
  std::uint64_t used_bytes() { return used_bytes_of(mnt_); }
  std::uint64_t settled_used_bytes(std::uint64_t expected) {
    return testing::settled_used_bytes(mnt_, expected);
  }
  std::uint64_t used_inodes() {
    const struct statvfs st = df();
    return st.f_files - st.f_ffree;
  }
  std::uint64_t upper_allocated() { return host_allocated(state_ + "/upper"); }
  // Creates (or appends to) `rel` as root in this process: the quota is the daemon's own
  // check, not a mode bit.
  int open_rw(const std::string& rel, int flags = O_CREAT | O_WRONLY) {
    return ::open(at(rel).c_str(), flags | O_CLOEXEC, 0644);
  }
  std::string digest_;
};

TEST_F(Quota, DdOfZerosStopsAtTheQuotaWithENOSPCAndTheFsLivesOn) {
  mount_with(kMiB, 0);
  // The attack, scaled to the quota.
  std::string out;
  EXPECT_NE(agent_sh("dd if=/dev/zero of=out/big bs=64k count=1024 2>&1", &out), 0);
  EXPECT_NE(out.find("No space left on device"), std::string::npos) << out;
  struct stat st;
  ASSERT_EQ(::stat(at("out/big").c_str(), &st), 0);
  EXPECT_LE(static_cast<std::uint64_t>(st.st_size), kMiB - 4 * kKiB);  // out/ takes a block
  EXPECT_GE(static_cast<std::uint64_t>(st.st_size), kMiB - 68 * kKiB) << "stopped far too early";
  EXPECT_LE(upper_allocated(), kMiB + 64 * kKiB) << "the host disk paid beyond the quota";
  // The daemon still serves, nothing more fits, and deleting frees the quota again.
  EXPECT_EQ(agent_sh("ls out >/dev/null && cat small.txt >/dev/null"), 0);
  EXPECT_NE(agent_sh("echo more >> out/big"), 0);
  ASSERT_EQ(agent_sh("rm out/big"), 0);
  EXPECT_EQ(settled_used_bytes(4 * kKiB), 4 * kKiB);
  EXPECT_EQ(agent_sh("dd if=/dev/zero of=out/again bs=64k count=8 2>/dev/null"), 0);
  EXPECT_EQ(agent_sh("test $(stat -c %s out/again) = 524288"), 0);
}

TEST_F(Quota, AWriteCrossingTheLimitIsShortenedThenRefused) {
  mount_with(64 * kKiB, 0);
  const int fd = open_rw("f");
  ASSERT_GE(fd, 0);
  const std::string chunk(100 * kKiB, 'x');
  EXPECT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(64 * kKiB));
  errno = 0;
  EXPECT_EQ(::write(fd, chunk.data(), 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  // Rewriting what is already there costs nothing.
  EXPECT_EQ(::pwrite(fd, chunk.data(), 4096, 0), 4096);
  ::close(fd);
  EXPECT_EQ(used_bytes(), 64 * kKiB);
  EXPECT_EQ(::truncate(at("f").c_str(), 10), 0);
  EXPECT_EQ(used_bytes(), 4 * kKiB);
}

TEST_F(Quota, AFloodOfNamesHitsTheInodeLimit) {
  mount_with(0, 50);
  int created = 0;
  int error = 0;
  for (int i = 0; i < 100 && error == 0; ++i) {
    const int fd = open_rw("f" + std::to_string(i));
    if (fd < 0) {
      error = errno;
    } else {
      ::close(fd);
      ++created;
    }
  }
  EXPECT_EQ(created, 50);
  EXPECT_EQ(error, ENOSPC);
  EXPECT_EQ(as_root(::mkdir(at("d").c_str(), 0755)), ENOSPC);
  EXPECT_EQ(as_root(::symlink("f0", at("s").c_str())), ENOSPC);
  EXPECT_EQ(as_root(::link(at("f0").c_str(), at("l").c_str())), ENOSPC);
  EXPECT_EQ(as_root(::mkfifo(at("p").c_str(), 0644)), ENOSPC);
  // Modifying a base file copies it up: one more name.
  const int base_fd = open_rw("small.txt", O_WRONLY | O_APPEND);
  ASSERT_GE(base_fd, 0);
  EXPECT_EQ(::write(base_fd, "x", 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  ::close(base_fd);
  EXPECT_EQ(agent_sh("touch f100"), 1);  // from a shell too
  EXPECT_EQ(used_inodes(), 50u);
  EXPECT_EQ(df().f_ffree, 0u);
  // A free name is usable again at once.
  ASSERT_EQ(::unlink(at("f7").c_str()), 0);
  EXPECT_EQ(as_root(::mkdir(at("d").c_str(), 0755)), 0);
  EXPECT_EQ(as_root(::mkdir(at("d2").c_str(), 0755)), ENOSPC);
}

TEST_F(Quota, MkdirAndSymlinkFloodsAreStoppedToo) {
  mount_with(0, 20);
  EXPECT_NE(agent_sh("for i in $(seq 100); do mkdir out/d$i || exit 1; done"), 0);
  EXPECT_NE(agent_sh("for i in $(seq 100); do ln -s x out/s$i || exit 1; done"), 0);
  EXPECT_EQ(used_inodes(), 20u);  // out/ copied up, then 19 directories
  EXPECT_EQ(agent_sh("rm -r out/d1 out/d2 && mkdir out/again && ln -s x out/s"), 0);
}

TEST_F(Quota, TruncateAndFallocateCannotGrowPastTheQuota) {
  mount_with(kMiB, 0);
  const int fd = open_rw("f");
  ASSERT_GE(fd, 0);
  EXPECT_EQ(as_root(::ftruncate(fd, 2 * kMiB)), ENOSPC);
  // A sparse file is charged at its size: the holes can be filled later.
  EXPECT_EQ(as_root(::ftruncate(fd, 512 * kKiB)), 0);
  EXPECT_EQ(used_bytes(), 512 * kKiB);
  EXPECT_EQ(::fallocate(fd, 0, 0, 2 * kMiB), -1);
  EXPECT_EQ(errno, ENOSPC);
  // Blocks past the end that the size would not show are refused.
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 2 * kMiB), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 256 * kKiB), 0);
  EXPECT_EQ(::fallocate(fd, 0, 0, 768 * kKiB), 0);
  EXPECT_EQ(used_bytes(), 768 * kKiB);
  EXPECT_EQ(::pwrite(fd, "x", 1, 2 * kMiB), -1);  // a write far past the end
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(as_root(::ftruncate(fd, 0)), 0);
  EXPECT_EQ(used_bytes(), 0u);
  ::close(fd);
}

TEST_F(Quota, CopyUpOfABaseFileLargerThanWhatIsLeftFailsAndLeavesNothing) {
  mount_with(kMiB, 0);
  const int fd = open_rw("big.bin", O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);  // OPEN never reaches the daemon; the copy-up comes with the write
  EXPECT_EQ(::write(fd, "x", 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  ::close(fd);
  struct stat st;
  EXPECT_NE(::lstat((state_ + "/upper/big.bin").c_str(), &st), 0) << "a half copy was left";
  EXPECT_EQ(used_bytes(), 0u);
  // Truncating needs none of the old data: that fits.
  EXPECT_EQ(agent_sh("head -c 100000 /dev/zero > big.bin"), 0);
  // Plus the copy-up stamp's few bytes in the journal, which `df` shows as a block.
  EXPECT_EQ(used_bytes(), WriteQuota::charge_of(100000) + 4 * kKiB);
}

TEST_F(Quota, DfShowsTheQuotaNotTheHostDisk) {
  mount_with(8 * kMiB, 1000);
  struct statvfs st = df();
  EXPECT_EQ(st.f_blocks * st.f_frsize, 8 * kMiB);
  EXPECT_EQ(st.f_bfree * st.f_frsize, 8 * kMiB);
  EXPECT_EQ(st.f_files, 1000u);
  EXPECT_EQ(st.f_ffree, 1000u);
  ASSERT_EQ(agent_sh("head -c 1048576 /dev/zero > out/one"), 0);
  EXPECT_EQ(used_bytes(), kMiB + 4 * kKiB);  // the file and the copied-up out/
  EXPECT_EQ(used_inodes(), 2u);
  std::string out;
  ASSERT_EQ(agent_sh("df -B1 . | tail -1", &out), 0);
  EXPECT_NE(out.find(" 8388608 "), std::string::npos) << out;
}

TEST_F(Quota, WhatUpperAlreadyHoldsIsCountedAtMount) {
  mount_with(0, 0);
  ASSERT_EQ(agent_sh("head -c 300000 /dev/zero > out/a && mkdir -p out/d/e && ln -s a out/s && "
                     "ln out/a out/hard"),
            0);
  unmount();
  mount_with(kMiB, 100);
  // out/, out/d, out/d/e, out/s: one block each; out/a once for its two names.
  EXPECT_EQ(used_bytes(), WriteQuota::charge_of(300000) + 4 * 4 * kKiB);
  EXPECT_EQ(used_inodes(), 6u);
}

TEST_F(Quota, AHardLinkedFileIsChargedOnceAndFreedWithItsLastName) {
  mount_with(kMiB, 100);
  ASSERT_EQ(agent_sh("head -c 262144 /dev/zero > f && ln f g"), 0);
  EXPECT_EQ(used_bytes(), 256 * kKiB);
  EXPECT_EQ(used_inodes(), 2u);
  ASSERT_EQ(agent_sh("rm f"), 0);
  EXPECT_EQ(used_bytes(), 256 * kKiB);
  ASSERT_EQ(agent_sh("rm g"), 0);
  EXPECT_EQ(settled_used_bytes(0), 0u);
  EXPECT_EQ(used_inodes(), 0u);
}

TEST_F(Quota, AFileDeletedWhileOpenStaysChargedUntilClosed) {
  mount_with(kMiB, 100);
  const int fd = open_rw("f", O_CREAT | O_RDWR);
  ASSERT_GE(fd, 0);
  const std::string data(512 * kKiB, 'x');
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::unlink(at("f").c_str()), 0);
  // Its data is still on the host disk, and still writable.
  EXPECT_EQ(used_bytes(), 512 * kKiB);
  EXPECT_EQ(used_inodes(), 0u);
  EXPECT_EQ(::pwrite(fd, "x", 1, kMiB), -1);
  EXPECT_EQ(errno, ENOSPC);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(used_bytes(), 512 * kKiB) << "freed while still open";
  ::close(fd);
  EXPECT_EQ(settled_used_bytes(0), 0u);
}

// `rm big; dd of=again` at a full quota: big's bytes come back only when the kernel
// forgets its node, and that FORGET travels apart from the writes (over io_uring it comes
// on /dev/fuse): dd was refused 2 times in 60 under load. Here an O_PATH fd (no OPEN,
// no RELEASE) keeps the node known for 50 ms after the unlink, as a slow FORGET would.
TEST_F(Quota, AWriteRightAfterAFullFileIsRemovedWaitsForItsBytes) {
  mount_with(kMiB, 100);
  EXPECT_NE(agent_sh("head -c 2000000 /dev/zero > big"), 0) << "the quota did not fill";
  const int path_fd = ::open(at("big").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_GE(path_fd, 0);
  ASSERT_EQ(::unlink(at("big").c_str()), 0);
  std::thread forget_later([path_fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::close(path_fd);
  });
  const int fd = open_rw("again");
  const std::string data(512 * kKiB, 'x');
  const ssize_t written = fd >= 0 ? ::write(fd, data.data(), data.size()) : -1;
  const int error = errno;
  forget_later.join();
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_EQ(written, static_cast<ssize_t>(data.size())) << std::strerror(error);
}

TEST_F(Quota, RenameOverAFileFreesTheReplacedOne) {
  mount_with(kMiB, 100);
  ASSERT_EQ(agent_sh("head -c 600000 /dev/zero > a && head -c 100000 /dev/zero > b && mv b a"), 0);
  EXPECT_EQ(settled_used_bytes(WriteQuota::charge_of(100000)), WriteQuota::charge_of(100000));
  EXPECT_EQ(used_inodes(), 1u);
  ASSERT_EQ(agent_sh("mkdir d e && mv d e/d2 && ln a a2"), 0);
  // Two names of one file: rename does nothing, and nothing is freed.
  ASSERT_EQ(::rename(at("a").c_str(), at("a2").c_str()), 0);
  EXPECT_EQ(used_inodes(), 4u);  // a, a2, e, e/d2
  EXPECT_EQ(used_bytes(), WriteQuota::charge_of(100000) + 2 * 4 * kKiB);
  // An empty directory renamed over another frees the replaced one.
  ASSERT_EQ(agent_sh("mkdir e/f"), 0);
  EXPECT_EQ(used_inodes(), 5u);
  ASSERT_EQ(::rename(at("e/f").c_str(), at("e/d2").c_str()), 0);
  EXPECT_EQ(used_inodes(), 4u);
  EXPECT_EQ(used_bytes(), WriteQuota::charge_of(100000) + 2 * 4 * kKiB);
}

// The layer's bookkeeping must not be a way around the quota: renaming a base file back
// and forth (a whiteout, a copy-up stamp moved, and back) appended to the journal without
// bound, 5.5 MB in 5 s from one `mv` loop, and 16 KiB a rename with the longest paths.
TEST_F(Quota, RenamingABaseFileInALoopKeepsTheJournalSmall) {
  mount_with(kMiB, 100);
  std::string out;
  ASSERT_EQ(agent_sh("python3 -c '\nimport os\nfor _ in range(20000):\n"
                     "    os.rename(\"small.txt\", \"moved.txt\")\n"
                     "    os.rename(\"moved.txt\", \"small.txt\")\n"
                     "print(open(\"small.txt\").read(), end=\"\")\n'",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "small\n");
  struct stat st {};
  ASSERT_EQ(::stat((state_ + "/journal").c_str(), &st), 0);
  // 40,000 renames: 1.2 MB before (and growing with every one).
  EXPECT_LT(st.st_size, 512 * kKiB);
}

// The journal's records are the write layer's too (attack sweep L, B2): deleting 5,000
// base files with 8 KB escaped paths grew the journal by 480 MB and the fs process by
// 220 MB, while `df` inside showed nothing used. Each whiteout now costs a name and its
// records' bytes, so deleting ends in ENOSPC at the quota, as writing does.
class QuotaRecords : public Quota {
 protected:
  // `count` base files with 255-byte names (escaped four times longer in the journal)
  // under three directories with 250-byte names; their paths relative to the mount.
  std::vector<std::string> long_named_base_files(int count) {
    std::string dir;
    for (int level = 0; level < 3; ++level) {
      dir += (dir.empty() ? "" : "/") + std::string(250, '\xff');
      base_dir(dir);
    }
    std::vector<std::string> files;
    for (int i = 0; i < count; ++i) {
      std::string name = std::to_string(1000 + i) + std::string(251, '\xfe');
      files.push_back(dir + "/" + name);
      base_file(files.back(), "");
    }
    digest_ = base_digest();
    return files;
  }
  // Unlinks `files` in order until one fails: how many went, and the failure's errno.
  std::pair<std::size_t, int> unlink_until_refused(const std::vector<std::string>& files) {
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (::unlink(at(files[i]).c_str()) < 0) return {i, errno};
    }
    return {files.size(), 0};
  }
  std::uint64_t journal_size() {
    struct stat st {};
    EXPECT_EQ(::stat((state_ + "/journal").c_str(), &st), 0);
    return static_cast<std::uint64_t>(st.st_size);
  }
};

TEST_F(QuotaRecords, DeletingBaseFilesWithLongNamesStopsAtTheByteQuota) {
  const std::vector<std::string> files = long_named_base_files(200);
  mount_with(256 * kKiB, 1000);
  const auto [deleted, error] = unlink_until_refused(files);
  EXPECT_EQ(error, ENOSPC) << deleted << " deleted";
  EXPECT_GE(deleted, 5u);
  EXPECT_LT(deleted, 100u);
  // Nothing happened to the refused one; the journal stayed within about the quota, and
  // `df` shows it used.
  EXPECT_EQ(::access(at(files[deleted]).c_str(), F_OK), 0);
  EXPECT_LE(journal_size(), 256 * kKiB);
  const std::uint64_t used = used_bytes();
  EXPECT_GE(used, 256 * kKiB - 32 * kKiB);
  EXPECT_EQ(used_inodes(), deleted);  // one name per whiteout
  // Files the agent made itself need no record: making and deleting them stays free.
  EXPECT_EQ(agent_sh("touch new && rm new"), 0);
  // The count survives a remount (the journal is counted when it is replayed).
  unmount();
  mount_with(256 * kKiB, 1000);
  EXPECT_EQ(used_bytes(), used);
  EXPECT_EQ(used_inodes(), deleted);
  EXPECT_EQ(::unlink(at(files[deleted]).c_str()), -1);
  EXPECT_EQ(errno, ENOSPC);
}

TEST_F(QuotaRecords, AWhiteoutCostsANameThatRecreatingGivesBack) {
  for (int i = 0; i < 20; ++i) base_file("g" + std::to_string(i), "");
  digest_ = base_digest();
  mount_with(0, 10);
  std::vector<std::string> files;
  for (int i = 0; i < 20; ++i) files.push_back("g" + std::to_string(i));
  const auto [deleted, error] = unlink_until_refused(files);
  EXPECT_EQ(deleted, 10u);
  EXPECT_EQ(error, ENOSPC);
  EXPECT_EQ(used_inodes(), 10u);
  EXPECT_EQ(df().f_ffree, 0u);
  // Re-creating a deleted name takes the whiteout's place: it fits at a full quota, and
  // deleting it again costs nothing more.
  EXPECT_EQ(agent_sh("echo again > g0"), 0);
  EXPECT_EQ(used_inodes(), 10u);
  EXPECT_EQ(agent_sh("rm g0"), 0);
  EXPECT_EQ(used_inodes(), 10u);
  EXPECT_EQ(agent_sh("touch g0"), 0);
  EXPECT_EQ(agent_sh("touch other"), 1);  // a really new name does not fit
  unmount();
  mount_with(0, 10);
  EXPECT_EQ(used_inodes(), 10u);
}

// Commit and discard move or remove upper files; the quota follows.
class QuotaControl : public ControlledFs {};

TEST_F(QuotaControl, CommitAndDiscardGiveTheQuotaBack) {
  quota_ = {kMiB, 100};
  mount_writable();
  ASSERT_EQ(agent_sh("head -c 900000 /dev/zero > a"), 0);
  EXPECT_NE(agent_sh("head -c 900000 /dev/zero > b"), 0);
  ASSERT_EQ(call({{"op", "commit"}, {"paths", {"/a"}}})["applied"].size(), 1u);
  struct statvfs st {};
  ASSERT_EQ(::statvfs(mnt_.c_str(), &st), 0);
  EXPECT_EQ(st.f_files - st.f_ffree, 1u);  // only b (the part that fitted) is left in upper
  ASSERT_EQ(agent_sh("rm b"), 0);
  ASSERT_EQ(settled_used_bytes(mnt_, 0), 0u);
  ASSERT_EQ(agent_sh("head -c 900000 /dev/zero > c"), 0);
  call({{"op", "discard"}});
  // c stays charged until the kernel's RELEASE of its last fd arrives (a file kept open
  // through a discard stays charged); `head` has exited, so that comes shortly.
  EXPECT_EQ(settled_used_bytes(mnt_, 0), 0u);
  ASSERT_EQ(::statvfs(mnt_.c_str(), &st), 0);
  EXPECT_EQ(st.f_blocks, st.f_bfree);
  EXPECT_EQ(st.f_files, st.f_ffree);
  EXPECT_EQ(agent_sh("head -c 900000 /dev/zero > d"), 0);
}

}  // namespace
}  // namespace agentfense::fs::testing
