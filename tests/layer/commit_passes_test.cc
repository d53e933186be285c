// A commit works through a large layer in passes (changes.h, kCommitPassBytes). These
// tests build the same random layer twice, commit one in a single pass and the other one
// change per pass, and compare everything a commit leaves: the base, upper, the journal's
// markers, the report, and what is left to commit.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>
#include <random>
#include <set>

#include "layer/changes.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

// Names whose bytes sort around '/' ('-' and '.' before it, '0' and letters after), so
// that a directory's subtree does not sort next to it: "/a", "/a-b", "/a.c", "/a/x".
const Strings kNames = {"a", "a-b", "a.c", "a0", "b", "c d", "z"};

// One base tree and one sandbox state directory, both built by the same Script.
class Layer {
 public:
  explicit Layer(const fs::path& root) : base_(root / "base"), state_(root / "state") {
    fs::create_directories(base_);
    base_fd_ = UniqueFd(::open(base_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    journal_ = Journal::open(state_.string());
  }
  fs::path base(const std::string& rel) const { return base_ / rel.substr(1); }
  fs::path up(const std::string& rel) const { return state_ / "upper" / rel.substr(1); }
  int base_fd() const { return base_fd_.get(); }
  Journal& journal() { return *journal_; }
  const fs::path& base_root() const { return base_; }
  fs::path upper_root() const { return state_ / "upper"; }

 private:
  fs::path base_, state_;
  UniqueFd base_fd_;
  std::unique_ptr<Journal> journal_;
};

// Everything under `root`: path -> type, mode and content (or link target).
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct stat st {};
    EXPECT_EQ(::lstat(entry.path().c_str(), &st), 0);
    std::string what = std::to_string(st.st_mode);
    if (S_ISREG(st.st_mode)) what += ":" + read_file(entry.path());
    if (S_ISLNK(st.st_mode)) what += "->" + fs::read_symlink(entry.path()).string();
    out[fs::relative(entry.path(), root).string()] = what;
  }
  return out;
}

// A random layer: a base tree, then what a sandbox did to it, as the fs records it
// (copy-ups with stamps, new entries, whiteouts, recreated directories).
class Script {
 public:
  explicit Script(unsigned seed) : random_(seed) {}

  void build(Layer& layer) {
    std::mt19937 random = random_;  // each layer gets the same choices
    base_dirs_ = {"/"};
    base_files_.clear();
    fill_base(layer, random, "/", 0);
    touched_.clear();
    const int ops = 4 + static_cast<int>(random() % 20);
    for (int i = 0; i < ops; ++i) act(layer, random);
  }

 private:
  void fill_base(Layer& layer, std::mt19937& random, const std::string& dir, int depth) {
    for (const std::string& name : kNames) {
      if (random() % 3 != 0) continue;
      const std::string path = child_path(dir, name);
      if (depth < 3 && random() % 2 == 0) {
        fs::create_directories(layer.base(path));
        base_dirs_.push_back(path);
        fill_base(layer, random, path, depth + 1);
      } else {
        write_file(layer.base(path), "base " + path + "\n");
        base_files_.push_back(path);
      }
    }
  }

  // A base entry no earlier step deleted, recreated or modified, nor any ancestor.
  bool untouched(const std::string& path) const {
    for (std::string p = path;; p = split_path(p).parent) {
      if (touched_.contains(p)) return false;
      if (p == "/") return true;
    }
  }

  // Mirrors the base directories from the root down to `dir` into upper, as the fs does
  // before it puts anything below them.
  static void mirror_parents(Layer& layer, const std::string& dir) {
    std::string walked = "/";
    for (const std::string& segment : path_segments(dir)) {
      walked = child_path(walked, segment);
      if (fs::exists(layer.up(walked))) continue;
      fs::create_directories(layer.up(walked));
      fs::permissions(layer.up(walked), static_cast<fs::perms>(mode_of(layer.base(walked))));
    }
  }

  void act(Layer& layer, std::mt19937& random) {
    const std::string file =
        base_files_.empty() ? std::string("/") : base_files_[random() % base_files_.size()];
    const std::string dir = base_dirs_[random() % base_dirs_.size()];
    // A suffix of 1 to 3 keeps new names apart from kNames ("a" + "0" would be "a0").
    const std::string name = kNames[random() % kNames.size()] + std::to_string(1 + random() % 3);
    Journal& j = layer.journal();
    switch (random() % 7) {
      case 0:  // edit a base file (sometimes writing back what was there)
        if (file == "/" || !untouched(file)) return;
        mirror_parents(layer, split_path(file).parent);
        fs::copy_file(layer.base(file), layer.up(file));
        EXPECT_EQ(j.record_copy_up(file, stamp_of_path(layer.base(file))), 0);
        if (random() % 4 != 0) write_file(layer.up(file), "edited " + file + "\n");
        touched_.insert(file);
        return;
      case 1:  // delete a base file
        if (file == "/" || !untouched(file)) return;
        EXPECT_EQ(j.add_whiteout(file), 0);
        touched_.insert(file);
        return;
      case 2:  // delete a base directory
        if (dir == "/" || !untouched(dir) || fs::exists(layer.up(dir))) return;
        EXPECT_EQ(j.add_whiteout(dir), 0);
        touched_.insert(dir);
        return;
      case 3:  // delete a base directory, recreate it, put a file in it
        if (dir == "/" || !untouched(dir) || fs::exists(layer.up(dir))) return;
        mirror_parents(layer, split_path(dir).parent);
        fs::create_directories(layer.up(dir));
        EXPECT_EQ(j.add_opaque(dir), 0);
        write_file(layer.up(child_path(dir, name)), "fresh\n");
        // Names the base directory had, again: a subdirectory (over a base one, or over
        // a base file) with files, and a file over a base name.
        for (const std::string& again : kNames) {
          if (random() % 3 == 0) {
            write_file(layer.up(child_path(child_path(dir, again), "x")), "again\n");
          } else if (random() % 3 == 0) {
            write_file(layer.up(child_path(dir, again)), "again\n");
          }
        }
        touched_.insert(dir);
        return;
      case 4:  // a new file, or a new directory with files, in a base directory
        if (!untouched(child_path(dir, name)) || fs::exists(layer.base(child_path(dir, name))))
          return;
        mirror_parents(layer, dir);
        if (random() % 2 == 0) {
          write_file(layer.up(child_path(dir, name)), "new\n");
        } else {
          for (const char* inner : {"x", "y-1", "y"})
            write_file(layer.up(child_path(child_path(dir, name), inner)), "new\n");
        }
        touched_.insert(child_path(dir, name));
        return;
      case 5:  // chmod a base directory
        if (dir == "/" || !untouched(dir)) return;
        mirror_parents(layer, dir);
        fs::permissions(layer.up(dir), static_cast<fs::perms>(0750));
        return;
      case 6:  // a relative symlink
        if (!untouched(child_path(dir, name)) || fs::exists(layer.base(child_path(dir, name))))
          return;
        mirror_parents(layer, dir);
        fs::create_symlink("a", layer.up(child_path(dir, name)));
        touched_.insert(child_path(dir, name));
        return;
    }
  }

  std::mt19937 random_;
  Strings base_dirs_, base_files_;
  std::set<std::string> touched_;
};

class CommitPasses : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-commit-passes-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
  }
  // rm walks with *at() calls: some trees here are deeper than PATH_MAX, which
  // fs::remove_all cannot remove.
  void TearDown() override {
    EXPECT_EQ(std::system(("rm -rf '" + root_.string() + "'").c_str()), 0);
  }
  fs::path root_;
};

const policy::Policy& policy_number(unsigned n) {
  static const policy::Policy read_only_b = policy_of({"**=write", "**/b=read", "**/b/**=read"});
  static const policy::Policy hidden_z = policy_of({"**=write", "**/z=none", "**/z/**=none"});
  static const policy::Policy read_only_dash = policy_of({"**=write", "**/a-b/**=read"});
  switch (n % 4) {
    case 0:
      return read_only_b;
    case 1:
      return hidden_z;
    case 2:
      return read_only_dash;
    default:
      return write_all();
  }
}

// Directories in upper below a recreated directory (an opaque marker) at the start.
std::set<std::string> dirs_under_markers(Layer& layer) {
  std::set<std::string> out;
  const Strings markers = layer.journal().opaques();
  for (const auto& entry : fs::recursive_directory_iterator(layer.upper_root())) {
    if (!entry.is_directory() || entry.is_symlink()) continue;
    const std::string path = "/" + fs::relative(entry.path(), layer.upper_root()).string();
    for (const std::string& marker : markers) {
      if (path != marker && is_same_or_under(path, marker)) out.insert(path);
    }
  }
  return out;
}

// Base entries below a base directory an upper non-directory replaces at the start: the
// pass that commits the replacement removes them, and a later pass no longer finds them.
std::set<std::string> held_by_replaced_dirs(Layer& layer) {
  std::set<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(layer.upper_root())) {
    if (entry.is_directory() && !entry.is_symlink()) continue;
    const std::string rel = fs::relative(entry.path(), layer.upper_root()).string();
    const fs::path base = layer.base_root() / rel;
    if (!fs::is_directory(fs::symlink_status(base))) continue;
    for (const auto& held : fs::recursive_directory_iterator(base))
      out.insert("/" + fs::relative(held.path(), layer.base_root()).string());
  }
  return out;
}

Strings sorted(Strings paths) {
  std::sort(paths.begin(), paths.end());
  return paths;
}

// What a commit in passes may leave out of its report: a directory below a recreated
// directory, which a pass after the one that wrote into the recreated directory no longer
// lists (the recreated directory's marker became per-entry whiteouts, so the directory
// merges with the base's as it would after the commit), and the deletions listed below a
// base directory replaced by a file, which a pass that committed the file removed with
// it. Everything else is reported the same, and the state the commit leaves is the same.
void expect_same_report(const Strings& one, const Strings& many,
                        const std::set<std::string>& may_differ) {
  Strings missing;
  std::set_difference(one.begin(), one.end(), many.begin(), many.end(),
                      std::back_inserter(missing));
  for (const std::string& path : missing) EXPECT_TRUE(may_differ.contains(path)) << path;
  Strings extra;
  std::set_difference(many.begin(), many.end(), one.begin(), one.end(), std::back_inserter(extra));
  EXPECT_EQ(extra, Strings{});
}

TEST_F(CommitPasses, OneChangePerPassEndsWhereOnePassDoes) {
  std::size_t layers_with_changes = 0, reports_that_differ = 0;
  for (unsigned seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const fs::path dir = root_ / std::to_string(seed);
    Layer whole(dir / "whole"), passes(dir / "passes");
    Script script(seed);
    script.build(whole);
    script.build(passes);
    const Scope scope(policy_number(seed));
    const ChangeSelection only =
        seed % 5 == 0 ? ChangeSelection(Strings{"/a", "/b"}) : ChangeSelection();
    ASSERT_EQ(snapshot(whole.base_root()), snapshot(passes.base_root()));
    ASSERT_EQ(snapshot(whole.upper_root()), snapshot(passes.upper_root()));
    if (!list_changes(whole.base_fd(), whole.journal(), scope).empty()) ++layers_with_changes;
    std::set<std::string> may_differ = dirs_under_markers(whole);
    may_differ.merge(held_by_replaced_dirs(whole));

    const CommitResult one = commit(whole.base_fd(), whole.journal(), scope, only);
    std::vector<std::pair<std::size_t, std::size_t>> steps;
    const CommitResult many = commit(
        passes.base_fd(), passes.journal(), scope, only,
        [&](std::size_t done, std::size_t total) { steps.emplace_back(done, total); }, 1);

    expect_same_report(sorted(one.applied), sorted(many.applied), may_differ);
    expect_same_report(sorted(one.denied), sorted(many.denied), may_differ);
    EXPECT_EQ(sorted(one.conflicts), sorted(many.conflicts));
    for (const auto& [path, reason] : many.reasons) EXPECT_EQ(one.reasons.at(path), reason);
    EXPECT_EQ(one.notes, many.notes);
    if (one.applied.size() + one.denied.size() != many.applied.size() + many.denied.size())
      ++reports_that_differ;

    EXPECT_EQ(snapshot(whole.base_root()), snapshot(passes.base_root()));
    EXPECT_EQ(snapshot(whole.upper_root()), snapshot(passes.upper_root()));
    EXPECT_EQ(whole.journal().whiteouts(), passes.journal().whiteouts());
    EXPECT_EQ(whole.journal().opaques(), passes.journal().opaques());
    const auto left = [&](Layer& layer) {
      Strings paths;
      for (const Change& c : list_changes(layer.base_fd(), layer.journal(), scope))
        paths.push_back(c.path + ":" + std::to_string(static_cast<int>(c.kind)) + c.type);
      return paths;
    };
    EXPECT_EQ(left(whole), left(passes));
    // Progress counts every change once and ends with done == total.
    ASSERT_FALSE(steps.empty());
    EXPECT_EQ(steps.back().first, steps.back().second);
    for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
      EXPECT_EQ(steps[i].first, i);
      EXPECT_LT(steps[i].first, steps[i].second);
    }
  }
  EXPECT_GT(layers_with_changes, 250u);  // the scripts really change their layers
  EXPECT_LT(reports_that_differ, 30u);   // and mostly without recreated directories
}

// An agent's 3,000 new files 7.8 KB deep name 23 MB of paths. Committed in one pass,
// the heap grew by 45 MiB while applying them (the change list, the report, and more
// copies after); in passes of 2 MiB it grows by 8 MiB: a pass and a 4 MiB report.
TEST_F(CommitPasses, ALayerOfLongPathsIsCommittedInBoundedMemory) {
  Layer layer(root_ / "long");
  // Longer than the host's PATH_MAX: built one directory fd at a time, as the fs does.
  std::string deep;
  UniqueFd dir(::open(layer.upper_root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (int level = 0; level < 31; ++level) {
    const std::string name(250, static_cast<char>('a' + level % 26));
    deep += "/" + name;
    ASSERT_EQ(::mkdirat(dir.get(), name.c_str(), 0755), 0);
    dir = UniqueFd(::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir.valid());
  }
  constexpr int kFiles = 3000;
  for (int i = 0; i < kFiles; ++i) {
    UniqueFd file(
        ::openat(dir.get(), std::to_string(i).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(file.valid());
  }
  std::size_t before = 0, peak = 0, calls = 0;
  const auto sample = [&](std::size_t, std::size_t) {
    if (calls++ % 50 == 0) peak = std::max(peak, mallinfo2().uordblks);
  };
  before = mallinfo2().uordblks;
  const CommitResult result =
      commit(layer.base_fd(), layer.journal(), Scope(write_all()), {}, sample, 2 << 20);
  EXPECT_EQ(result.applied.size() + result.applied_omitted, kFiles + 31u);
  std::size_t listed = 0;
  for (const std::string& path : result.applied) listed += path.size();
  EXPECT_LE(listed, kMaxListedPathBytes);
  EXPECT_TRUE(stat_beneath(layer.base_fd(), deep + "/2999"));
  const std::size_t grown = peak - std::min(before, peak);
  EXPECT_LT(grown, 16u << 20) << "the commit held " << (grown >> 20) << " MiB";
}

// What the report keeps of a commit in passes is what bounding one report would keep.
TEST(CommitPassResults, AppendBoundedKeepsWhatBoundingTheWholeWould) {
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    CommitResult whole, passes;
    const std::size_t budget = 1 + random() % 60;
    const int pass_count = 1 + static_cast<int>(random() % 6);
    for (int p = 0; p < pass_count; ++p) {
      CommitResult pass;
      const int n = static_cast<int>(random() % 6);
      for (int i = 0; i < n; ++i) {
        const std::string path =
            "/p" + std::to_string(p) + "/" + std::string(random() % 9, 'x') + std::to_string(i);
        auto& list = random() % 3 == 0 ? pass.denied : pass.applied;
        list.push_back(path);
        (random() % 2 ? pass.reasons : pass.notes)[path] = "why " + path;
      }
      whole.applied.insert(whole.applied.end(), pass.applied.begin(), pass.applied.end());
      whole.denied.insert(whole.denied.end(), pass.denied.begin(), pass.denied.end());
      whole.reasons.insert(pass.reasons.begin(), pass.reasons.end());
      whole.notes.insert(pass.notes.begin(), pass.notes.end());
      append_bounded(passes, std::move(pass), budget);
    }
    bound_commit_lists(whole, budget);
    EXPECT_EQ(whole.applied, passes.applied);
    EXPECT_EQ(whole.denied, passes.denied);
    EXPECT_EQ(whole.reasons, passes.reasons);
    EXPECT_EQ(whole.notes, passes.notes);
    EXPECT_EQ(whole.applied_omitted, passes.applied_omitted);
    EXPECT_EQ(whole.denied_omitted, passes.denied_omitted);
  }
}

}  // namespace
}  // namespace agentfense::layer::testing
