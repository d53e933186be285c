// Real tools in writable areas and on large trees.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

class Tools : public MountedFs {};

TEST_F(Tools, GitWorksInWritableArea) {
  base_dir("out");
  mount({Rule{"/**", Level::kRead}, Rule{"/out/**", Level::kWrite}});
  std::string out;
  ASSERT_EQ(agent_sh("cd out && git init -q repo && cd repo && git config user.email a@b && "
                     "git config user.name a && echo hi > f && git add f && "
                     "git commit -qm first && echo more >> f && git status --porcelain && "
                     "git commit -qam second && git log --oneline | wc -l",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, " M f\n2\n");
}

TEST_F(Tools, SqliteWorksInWritableArea) {
  base_dir("out");
  mount({Rule{"/**", Level::kRead}, Rule{"/out/**", Level::kWrite}});
  std::string out;
  ASSERT_EQ(agent_sh("cd out && sqlite3 db.sqlite 'CREATE TABLE t(x); INSERT INTO t VALUES (42);"
                     "' && sqlite3 db.sqlite 'SELECT x FROM t;'",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "42\n");
}

TEST_F(Tools, GrepOverTwentyFiveThousandFiles) {
  constexpr int kDirs = 250, kFilesPerDir = 100;
  for (int d = 0; d < kDirs; ++d) {
    const std::string dir = base_path("tree/d" + std::to_string(d));
    std::filesystem::create_directories(dir);
    for (int f = 0; f < kFilesPerDir; ++f) {
      std::ofstream(dir + "/f" + std::to_string(f)) << "line\nneedle " << f << "\n";
    }
  }
  mount({Rule{"/**", Level::kRead}});
  std::string out;
  ASSERT_EQ(agent_sh("grep -r needle tree | wc -l", &out), 0);
  EXPECT_EQ(out, std::to_string(kDirs * kFilesPerDir) + "\n");
}

}  // namespace
}  // namespace agentfense::fs::testing

namespace agentfense::fs::testing {
namespace {

TEST_F(Tools, PosixFeaturesInWritableArea) {
  base_file("w/base.txt", "base\n");
  mount({policy::Rule{"/**", policy::Level::kWrite}});
  std::string out;
  ASSERT_EQ(agent_sh("cd w && mkfifo p && test -p p && touch -d 2020-01-02 base.txt && "
                     "date -r base.txt +%Y && chmod 700 . && stat -c %a . && "
                     "ln base.txt hard && stat -c %h hard && echo add >> hard && cat base.txt && "
                     "truncate -s 2 base.txt && cat base.txt && echo && "
                     "fallocate -l 4096 big && stat -c %s big && "
                     "setfattr -n user.k -v v big 2>/dev/null; python3 -c "
                     "\"import os; f=os.open('big', os.O_RDWR); os.fsync(f); "
                     "os.write(f, b'x'); os.fdatasync(f); print(os.statvfs('.').f_bsize > 0)\"",
                     &out),
            0)
      << out;
  EXPECT_EQ(out, "2020\n700\n2\nbase\nadd\nba\n4096\nTrue\n");
}

}  // namespace
}  // namespace agentfense::fs::testing
