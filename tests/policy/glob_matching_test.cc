// Which paths a single rule's pattern matches (DESIGN.md "Policy semantics").
#include <gtest/gtest.h>

#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::typed;

struct MatchCase {
  std::string pattern;
  std::string path;
  bool is_dir;
  bool matches;
  PatternType type = PatternType::kGlob;
};

void PrintTo(const MatchCase& c, std::ostream* out) {
  *out << "'" << c.pattern << "' (" << to_string(c.type) << ") vs '" << c.path << "'"
       << (c.is_dir ? " dir" : " file");
}

class GlobMatching : public ::testing::TestWithParam<MatchCase> {};

TEST_P(GlobMatching, MatchesExactlyTheIntendedPaths) {
  const MatchCase& c = GetParam();
  const Decision decision =
      testing::decide({typed(c.pattern, Level::kRead, c.type)}, c.path, c.is_dir);
  EXPECT_EQ(decision.level, c.matches ? Level::kRead : Level::kNone);
  EXPECT_EQ(decision.rule, c.matches ? 0 : -1);
}

constexpr bool kDir = true;
constexpr bool kFile = false;

INSTANTIATE_TEST_SUITE_P(
    StarAndQuestionStayInOneSegment, GlobMatching,
    ::testing::Values(
        MatchCase{"*.md", "/README.md", kFile, true}, MatchCase{"*.md", "/docs/a.md", kFile, false},
        MatchCase{"**/*.md", "/README.md", kFile, true},
        MatchCase{"**/*.md", "/docs/a.md", kFile, true},
        MatchCase{"**/*.md", "/a/b/c/d.md", kFile, true},
        MatchCase{"/src/*", "/src/a", kFile, true}, MatchCase{"/src/*", "/src/a/b", kFile, false},
        MatchCase{"/src/*", "/src", kDir, false}, MatchCase{"src/?.py", "/src/a.py", kFile, true},
        MatchCase{"src/?.py", "/src/ab.py", kFile, false}, MatchCase{"a?b", "/a/b", kFile, false},
        MatchCase{"a*b", "/a/b", kFile, false}, MatchCase{"a*b", "/ab", kFile, true},
        MatchCase{"a*b", "/axyzb", kFile, true},
        // Unlike the shell, "*" matches names starting with ".".
        MatchCase{"*", "/.hidden", kFile, true}, MatchCase{"**/*", "/a/.b/.c", kFile, true},
        // "?" is one character, even a multi-byte UTF-8 one.
        MatchCase{"caf?", "/caf\xc3\xa9", kFile, true}, MatchCase{"caf?", "/cafe", kFile, true},
        MatchCase{"caf?", "/caf", kFile, false},
        // Names need not be UTF-8, and may contain newlines.
        MatchCase{"*.txt", "/\xff\xfe.txt", kFile, true}, MatchCase{"*", "/a\nb", kFile, true},
        MatchCase{"a?b", "/a\nb", kFile, true}));

INSTANTIATE_TEST_SUITE_P(
    GlobstarMatchesWholeSegments, GlobMatching,
    ::testing::Values(
        MatchCase{"**/secrets/**", "/secrets", kDir, true},
        MatchCase{"**/secrets/**", "/secrets/x", kFile, true},
        MatchCase{"**/secrets/**", "/a/secrets", kDir, true},
        MatchCase{"**/secrets/**", "/a/secrets/b/c", kFile, true},
        MatchCase{"**/secrets/**", "/secretsx", kFile, false},
        MatchCase{"**/secrets/**", "/a/mysecrets/x", kFile, false},
        MatchCase{"**/.git/**", "/.git", kDir, true},
        MatchCase{"**/.git/**", "/.git/config", kFile, true},
        MatchCase{"**/.git/**", "/.github/x", kFile, false},
        MatchCase{"**/a/**/b", "/a/b", kFile, true},
        MatchCase{"**/a/**/b", "/x/a/y/z/b", kFile, true},
        MatchCase{"**/a/**/b", "/a/b/c", kFile, false}, MatchCase{"**/a/**/b", "/ab", kFile, false},
        MatchCase{"/dir/**", "/dir", kDir, true}, MatchCase{"/dir/**", "/dir/x/y", kFile, true},
        MatchCase{"/dir/**", "/dirx", kFile, false}, MatchCase{"**", "/", kDir, true},
        MatchCase{"**", "/a/b", kFile, true}, MatchCase{"**/*", "/", kDir, false},
        MatchCase{"**/*", "/a", kFile, true}, MatchCase{"/src/**/*.py", "/src/a.py", kFile, true},
        MatchCase{"/src/**/*.py", "/src/x/y/a.py", kFile, true},
        MatchCase{"/src/**/*.py", "/lib/a.py", kFile, false}));

INSTANTIATE_TEST_SUITE_P(AnchoredAtRoot, GlobMatching,
                         ::testing::Values(MatchCase{".env*", "/.env", kFile, true},
                                           MatchCase{".env*", "/.env.local", kFile, true},
                                           MatchCase{".env*", "/a/.env", kFile, false},
                                           MatchCase{"/.env*", "/.env", kFile, true},
                                           MatchCase{"**/.env*", "/a/b/.env.local", kFile, true},
                                           MatchCase{".env", "/.env", kFile, true},
                                           MatchCase{"a//b", "/a/b", kFile, true},
                                           MatchCase{"./a/./b", "/a/b", kFile, true},
                                           MatchCase{"src/a", "/x/src/a", kFile, false}));

INSTANTIATE_TEST_SUITE_P(
    ClassesBracesEscapes, GlobMatching,
    ::testing::Values(
        MatchCase{"[abc].txt", "/a.txt", kFile, true},
        MatchCase{"[abc].txt", "/d.txt", kFile, false},
        MatchCase{"[!abc].txt", "/d.txt", kFile, true},
        MatchCase{"[!abc].txt", "/a.txt", kFile, false},
        MatchCase{"[^abc].txt", "/a.txt", kFile, false}, MatchCase{"[a-c]x", "/bx", kFile, true},
        MatchCase{"[a-c]x", "/dx", kFile, false}, MatchCase{"[]]", "/]", kFile, true},
        MatchCase{"[a-]", "/-", kFile, true}, MatchCase{"[\\]]", "/]", kFile, true},
        MatchCase{"a[!b]c", "/a/c", kFile, false}, MatchCase{"x[!a]", "/x\xc3\xa9", kFile, true},
        MatchCase{"{src,lib}/*.py", "/src/a.py", kFile, true},
        MatchCase{"{src,lib}/*.py", "/lib/a.py", kFile, true},
        MatchCase{"{src,lib}/*.py", "/doc/a.py", kFile, false},
        MatchCase{"{a,b{c,d}}.txt", "/bd.txt", kFile, true},
        MatchCase{"{a,b{c,d}}.txt", "/a.txt", kFile, true},
        MatchCase{"{a,b{c,d}}.txt", "/b.txt", kFile, false},
        MatchCase{"{src,lib/**}/*.py", "/lib/x/y.py", kFile, true},
        MatchCase{"{src,lib/**}/*.py", "/src/x/y.py", kFile, false},
        MatchCase{"a{}b", "/ab", kFile, true}, MatchCase{"a,b", "/a,b", kFile, true},
        MatchCase{"[{]x", "/{x", kFile, true}, MatchCase{"\\*.md", "/*.md", kFile, true},
        MatchCase{"\\*.md", "/a.md", kFile, false}, MatchCase{"a\\?", "/a?", kFile, true},
        MatchCase{"a\\?", "/ab", kFile, false}, MatchCase{"\\[x\\]", "/[x]", kFile, true},
        MatchCase{"\\{a,b\\}", "/{a,b}", kFile, true}, MatchCase{"\\{a,b\\}", "/a", kFile, false}));

INSTANTIATE_TEST_SUITE_P(
    DirectoryAndFileTypes, GlobMatching,
    ::testing::Values(
        // A trailing "/" makes a directory rule: the directory itself and all below.
        MatchCase{"build/", "/build", kDir, true}, MatchCase{"build/", "/build", kFile, false},
        MatchCase{"build/", "/build/x/y", kFile, true}, MatchCase{"build/", "/build/x", kDir, true},
        MatchCase{"build/", "/buildx", kFile, false},
        MatchCase{"**/node_modules/", "/a/node_modules/b/c", kFile, true},
        MatchCase{"/", "/", kDir, true}, MatchCase{"/", "/a/b", kFile, true},
        MatchCase{"/src", "/src", kDir, true, PatternType::kDirectory},
        MatchCase{"/src", "/src", kFile, false, PatternType::kDirectory},
        MatchCase{"/src", "/src/a/b", kFile, true, PatternType::kDirectory},
        MatchCase{"/src", "/srcx", kDir, false, PatternType::kDirectory},
        // File rules are literal: glob characters mean themselves.
        MatchCase{"/a/*.md", "/a/*.md", kFile, true, PatternType::kFile},
        MatchCase{"/a/*.md", "/a/b.md", kFile, false, PatternType::kFile},
        MatchCase{"/a/*.md", "/a/*.md/x", kFile, false, PatternType::kFile},
        MatchCase{"a/[x", "/a/[x", kFile, true, PatternType::kFile},
        MatchCase{"notes.txt", "/notes.txt", kFile, true, PatternType::kFile},
        MatchCase{"notes.txt", "/a/notes.txt", kFile, false, PatternType::kFile}));

}  // namespace
}  // namespace agentfense::policy
