// Which changes a diff or commit request names (layer/change_selection.h): the rule the
// server, the fs process's control socket and `run --changes apply` share.
#include "layer/change_selection.h"

#include "common/errors.h"
#include "layer/changes.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

TEST(ChangeSelection, NothingNamedSelectsEverything) {
  const ChangeSelection all;
  EXPECT_TRUE(all.everything());
  EXPECT_TRUE(all.selects("/"));
  EXPECT_TRUE(all.selects("/any/path"));
}

TEST(ChangeSelection, APathSelectsItselfAndWhatIsBelowIt) {
  const ChangeSelection only(Strings{"/src", "/docs/a.md"});
  EXPECT_FALSE(only.everything());
  EXPECT_TRUE(only.selects("/src"));
  EXPECT_TRUE(only.selects("/src/a.c"));
  EXPECT_TRUE(only.selects("/src/deep/b.c"));
  EXPECT_TRUE(only.selects("/docs/a.md"));
  EXPECT_FALSE(only.selects("/srcx"));  // a sibling sharing the prefix
  EXPECT_FALSE(only.selects("/src.c"));
  EXPECT_FALSE(only.selects("/docs"));  // the parent of a named path is not named
  EXPECT_FALSE(only.selects("/docs/a.mdx"));
  EXPECT_FALSE(only.selects("/"));
}

TEST(ChangeSelection, OrderAndRepeatsOfTheNamedPathsDoNotMatter) {
  const ChangeSelection only(Strings{"/z/deep", "/a", "/z/deep", "/m/x.txt", "/a"});
  EXPECT_EQ(only.paths(), (Strings{"/a", "/m/x.txt", "/z/deep"}));
  EXPECT_TRUE(only.selects("/z/deep/er/file"));
  EXPECT_TRUE(only.selects("/m/x.txt"));
  EXPECT_FALSE(only.selects("/z"));
  EXPECT_FALSE(only.selects("/m/x.txt2"));
  EXPECT_FALSE(only.selects("/b"));
}

TEST(ChangeSelection, TheRootSelectsEverything) {
  const ChangeSelection root(Strings{"/"});
  EXPECT_TRUE(root.selects("/"));
  EXPECT_TRUE(root.selects("/a/b"));
}

TEST(SelectionPathFromWire, NormalizesRelativeAndTrailingSlashes) {
  EXPECT_EQ(selection_path_from_wire("src/a/"), "/src/a");
  EXPECT_EQ(selection_path_from_wire("/src//./a"), "/src/a");
  EXPECT_EQ(selection_path_from_wire(""), "/");
  EXPECT_EQ(selection_path_from_wire("/"), "/");
}

TEST(SelectionPathFromWire, AQuotedNameIsRestoredToItsBytes) {
  // How a change to a name that is not UTF-8 is listed (path_to_wire).
  EXPECT_EQ(selection_path_from_wire("\"/bin/\\377.dat\""), "/bin/\xff.dat");
}

TEST(SelectionPathFromWire, RefusesWhatCouldNameAnotherPath) {
  auto message_of = [](std::string_view text) {
    try {
      selection_path_from_wire(text);
    } catch (const UserError& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message_of("/a/../b"), "bad path '/a/../b': path '/a/../b' contains '..'");
  EXPECT_EQ(message_of(std::string_view("/a\0b", 4)),
            "bad path '/a\\x00b': path contains a NUL byte");
  EXPECT_NE(message_of("\"/a\\9\"").find("malformed quoted path"), std::string::npos);
}

class SelectedChanges : public LayerTest {};

TEST_F(SelectedChanges, ListChangesKeepsOnlyTheSelectedOnes) {
  write_file(up("src/a.c"), "a\n");
  write_file(up("src/sub/b.c"), "b\n");
  write_file(up("srcx"), "x\n");
  write_file(up("top.txt"), "t\n");
  auto paths = [&](const ChangeSelection& only) {
    Strings out;
    for (const Change& change : list_changes(base_fd_.get(), *journal_, Scope(write_all()), only))
      out.push_back(change.path);
    return out;
  };
  EXPECT_EQ(paths({}),
            (Strings{"/src", "/src/a.c", "/src/sub", "/src/sub/b.c", "/srcx", "/top.txt"}));
  EXPECT_EQ(paths(Strings{"/src/sub"}), (Strings{"/src/sub", "/src/sub/b.c"}));
  EXPECT_EQ(paths(Strings{"/src", "/top.txt"}),
            (Strings{"/src", "/src/a.c", "/src/sub", "/src/sub/b.c", "/top.txt"}));
  EXPECT_EQ(paths(Strings{"/nothing"}), Strings{});
}

}  // namespace
}  // namespace agentfense::layer::testing
