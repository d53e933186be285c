#include <gtest/gtest.h>

#include "common/errors.h"
#include "policy/policy.h"

namespace agentfense::policy {
namespace {

TEST(NormalizePath, CanonicalForms) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "/"},          {"/", "/"},           {".", "/"},
      {"a", "/a"},        {"/a/", "/a"},        {"a//b", "/a/b"},
      {"/a/./b", "/a/b"}, {"./a", "/a"},        {"//a///b//", "/a/b"},
      {"/a/.b", "/a/.b"}, {"/a/...", "/a/..."}, {"/a b/c", "/a b/c"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(normalize_path(input), expected) << "input: " << input;
  }
}

TEST(NormalizePath, RejectsDotDotAndNul) {
  for (std::string input :
       {std::string(".."), std::string("/a/../b"), std::string("a/.."), std::string("a\0b", 3)}) {
    EXPECT_THROW(normalize_path(input), UserError) << input;
  }
}

}  // namespace
}  // namespace agentfense::policy
