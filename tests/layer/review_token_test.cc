// layer/review_token.h: equal tokens must mean equal changes.
#include "layer/review_token.h"

#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

class ReviewTokenTest : public LayerTest {
 protected:
  std::string token(const ChangeSelection& only = {}) {
    return review_token(base_fd_.get(), *journal_, Scope(write_all()), only);
  }
  void clear_upper() {
    for (const auto& entry : fs::directory_iterator(upper())) fs::remove_all(entry.path());
  }
};

// The first encoding hashed a file's bytes raw with their length after them, so a
// file's NULs could spell the fields of a further change: a reviewed binary /a hashed
// exactly as a shorter /a plus an executable /b the reviewer never saw (found by an
// attack sweep; the commit applied /b).
TEST_F(ReviewTokenTest, AFileCannotSpellFurtherChanges) {
  // Old input for /a (0644) holding X: "/a\0" "0f\0" "420\0" X len(X) "\0". For /a
  // holding A and /b (0755) holding B it was the same bytes when X = A len(A) "\0/b\0"
  // "0f\0" "493\0" B-without-its-last-byte and len(X) is that byte followed by len(B).
  const std::string b = "#!/bin/sh\necho UNREVIEWED\n#1";
  const std::size_t spelled_size = std::stoul("1" + std::to_string(b.size()));
  std::string a, spelled;
  for (std::size_t n = 0; n < spelled_size && spelled.size() != spelled_size; ++n) {
    a = std::string(n, 'x');
    spelled = a + std::to_string(n) + std::string("\0/b\0", 4) + std::string("0f\0", 3) +
              std::string("493\0", 4) + b.substr(0, b.size() - 1);
  }
  ASSERT_EQ(spelled.size(), spelled_size);
  write_file(up("a"), spelled);
  const std::string reviewed = token();
  clear_upper();
  write_file(up("a"), a);
  write_file(up("b"), b, 0755);
  EXPECT_NE(token(), reviewed);
}

TEST_F(ReviewTokenTest, EveryFieldOfAChangeCounts) {
  write_file(up("f"), "content");
  const std::string first = token();
  EXPECT_EQ(token(), first) << "the same layer must give the same token";
  fs::permissions(up("f"), static_cast<fs::perms>(0755));
  const std::string chmodded = token();
  EXPECT_NE(chmodded, first);
  fs::remove(up("f"));
  fs::create_symlink("content", up("f"));
  EXPECT_NE(token(), chmodded);
  // Content and target never run into the next field: "ab" + "c" is not "a" + "bc".
  clear_upper();
  write_file(up("x"), "ab");
  fs::create_symlink("c", up("y"));
  const std::string split_one = token();
  clear_upper();
  write_file(up("x"), "a");
  fs::create_symlink("bc", up("y"));
  EXPECT_NE(token(), split_one);
}

TEST_F(ReviewTokenTest, TheSelectionDecidesWhatIsCovered) {
  write_file(up("in/a"), "a");
  write_file(up("out/b"), "b");
  const std::string in_only = token({{"/in"}});
  write_file(up("out/b"), "changed");
  EXPECT_EQ(token({{"/in"}}), in_only);
  write_file(up("in/new"), "n");
  EXPECT_NE(token({{"/in"}}), in_only);
}

}  // namespace
}  // namespace agentfense::layer::testing
