// A hidden directory answers every operation as an absent name would, whatever it holds
// and however large it is: the agent cannot learn that it exists.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::PatternType;
using policy::Rule;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

class HiddenDirs : public MountedFs {
 protected:
  int agent_stat(const std::string& rel) {
    struct stat st;
    return as_agent(::stat, at(rel).c_str(), &st);
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

// A name that a directory rule hides answers a create of a non-directory (file, symlink,
// FIFO, hard link, rename onto it) the same whether the hidden directory exists or not.
TEST_F(HiddenDirs, NameHiddenAsDirectoryCannotBeCreatedAsAnythingElse) {
  base_file("private/key.txt", "secret");
  base_file("src.txt", "data");
  mount({Rule{"**", Level::kWrite}, Rule{"/private", Level::kNone, 100, PatternType::kDirectory},
         Rule{"/absent", Level::kNone, 100, PatternType::kDirectory}});
  const std::string src = at("src.txt");
  // Run by as_agent: capture-less, on paths built here.
  using Op = int (*)(const char* path, const char* src);
  const std::vector<std::pair<std::string, Op>> ops = {
      {"symlink", [](const char* p, const char*) { return ::symlink("x", p); }},
      {"create", [](const char* p, const char*) { return ::open(p, O_CREAT | O_WRONLY, 0644); }},
      {"create excl",
       [](const char* p, const char*) { return ::open(p, O_CREAT | O_EXCL | O_WRONLY, 0644); }},
      {"mkfifo", [](const char* p, const char*) { return ::mkfifo(p, 0644); }},
      {"link", [](const char* p, const char* src) { return ::link(src, p); }},
      {"rename", [](const char* p, const char* src) { return ::rename(src, p); }},
      {"rename noreplace",
       [](const char* p, const char* src) {
         return ::renameat2(AT_FDCWD, src, AT_FDCWD, p, RENAME_NOREPLACE);
       }},
      {"mkdir", [](const char* p, const char*) { return ::mkdir(p, 0755); }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    for (const char* hidden : {"private", "absent"}) {
      const std::string path = at(hidden);
      EXPECT_EQ(as_agent(op, path.c_str(), src.c_str()), EACCES) << hidden;
    }
  }
  EXPECT_EQ(agent_stat("absent"), ENOENT);  // nothing was created
  EXPECT_EQ(agent_stat("src.txt"), 0);      // nor moved
}

// A directory that lists as empty is empty: one holding only a hidden directory (which
// a rule could, but does not, make visible) is removed and replaced like an empty one.
TEST_F(HiddenDirs, DirectoryHoldingOnlyHiddenDirectoriesIsEmpty) {
  base_file("work/a/private/key.txt", "secret");
  base_file("work/c/private/key.txt", "secret");
  base_dir("work/b");
  mount({Rule{"**", Level::kWrite}, Rule{"**/private/**", Level::kNone, 100},
         Rule{"**/*.md", Level::kWrite, 200}});
  EXPECT_TRUE(agent_listing("work/a").empty());
  const std::string a = at("work/a"), b = at("work/b"), c = at("work/c"), d = at("work/d");
  EXPECT_EQ(as_agent(::rmdir, a.c_str()), 0);
  EXPECT_EQ(as_agent(::rmdir, b.c_str()), 0);
  EXPECT_EQ(as_agent(::mkdir, d.c_str(), 0755), 0);
  EXPECT_EQ(as_agent(::rename, d.c_str(), c.c_str()), 0);
  EXPECT_EQ(agent_listing("work"), std::vector<std::string>{"c"});
  EXPECT_TRUE(agent_listing("work/c").empty());
}

// Under a directory-only write rule no rule matches a *file* of that name: a base file
// there is hidden, and making (or moving) a directory to the name answers as for an
// absent name. Before, mkdir failed with EEXIST and rename with ENOTDIR only when the
// hidden file existed.
TEST_F(HiddenDirs, ADirectoryIsMadeOverAHiddenFileAsOverAnAbsentName) {
  base_file("out", "host data");
  base_file("moved", "host data");
  mount({Rule{"/out", Level::kWrite, 0, PatternType::kDirectory},
         Rule{"/free", Level::kWrite, 0, PatternType::kDirectory},
         Rule{"/moved", Level::kWrite, 0, PatternType::kDirectory},
         Rule{"/gone", Level::kWrite, 0, PatternType::kDirectory},
         Rule{"/tmp", Level::kWrite, 0, PatternType::kDirectory}});
  EXPECT_EQ(agent_stat("out"), ENOENT);
  for (const char* name : {"out", "free", "tmp"}) {
    const std::string path = at(name);
    EXPECT_EQ(as_agent(::mkdir, path.c_str(), 0755), 0) << name;
  }
  EXPECT_EQ(agent_sh("echo new > out/x.txt && cat out/x.txt"), 0);
  const std::string tmp = at("tmp"), moved = at("moved"), gone = at("gone");
  EXPECT_EQ(as_agent(::renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, moved.c_str(), RENAME_NOREPLACE),
            0);
  EXPECT_EQ(as_agent(::mkdir, gone.c_str(), 0755), 0);
  EXPECT_EQ(as_agent(::rename, gone.c_str(), tmp.c_str()), 0);
  EXPECT_EQ(agent_listing("."), (std::vector<std::string>{"free", "moved", "out", "tmp"}));
  EXPECT_EQ(agent_listing("out"), std::vector<std::string>{"x.txt"});
  EXPECT_EQ(read_text(base_path("out")), "host data");  // the host's file is untouched
  EXPECT_EQ(read_text(base_path("moved")), "host data");
}

}  // namespace
}  // namespace agentfense::fs::testing
