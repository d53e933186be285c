// A hidden directory answers every operation as an absent name would, whatever it holds
// and however large it is: the agent cannot learn that it exists.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

class HiddenDirs : public MountedFs {
 protected:
  int agent_stat(const std::string& rel) {
    const std::string path = at(rel);
    return as_agent([&] {
      struct stat st;
      return ::stat(path.c_str(), &st);
    });
  }
  // `count` empty files directly in `rel` (more than any scan budget).
  void many_files(const std::string& rel, int count) {
    base_dir(rel);
    for (int i = 0; i < count; ++i)
      std::ofstream(base_path(rel + "/" + std::to_string(i) + ".dat"));
  }
};

// A hidden directory that some rule could make visible (**/*.md) but that holds no
// visible entry stays absent, even when it is too large to scan cheaply.
TEST_F(HiddenDirs, LargeHiddenDirectoryWithoutVisibleEntryStaysAbsent) {
  many_files("big", 10001);
  many_files("deep", 10001);
  base_file("deep/sub/doc.md", "doc");
  mount({Rule{"**", Level::kRead}, Rule{"big/**", Level::kNone, 100},
         Rule{"deep/**", Level::kNone, 100}, Rule{"**/*.md", Level::kRead, 200}});
  const std::vector<std::string> root = agent_listing(".");
  EXPECT_FALSE(listed(root, "big"));
  EXPECT_EQ(agent_stat("big"), ENOENT);
  // A visible file however deep inside a large hidden directory still shows the way to it.
  EXPECT_TRUE(listed(root, "deep"));
  EXPECT_EQ(agent_listing("deep"), std::vector<std::string>{"sub"});
  EXPECT_EQ(agent_stat("deep/sub/doc.md"), 0);
}

}  // namespace
}  // namespace agentfense::fs::testing
