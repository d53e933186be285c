#include "common/json_duplicate_key.h"

#include <gtest/gtest.h>

namespace agentfense {
namespace {

TEST(JsonDuplicateKey, NoneInOrdinaryRequests) {
  EXPECT_EQ(first_duplicate_json_key(R"({"command": "echo", "env": {"A": "1", "B": "2"}})"),
            std::nullopt);
  // The same key in sibling objects is not a duplicate.
  EXPECT_EQ(first_duplicate_json_key(
                R"({"permissions": [{"pattern": "a", "permission": "read"},
                                    {"pattern": "b", "permission": "none"}]})"),
            std::nullopt);
  EXPECT_EQ(first_duplicate_json_key("[]"), std::nullopt);
  EXPECT_EQ(first_duplicate_json_key("{}"), std::nullopt);
}

TEST(JsonDuplicateKey, NamesThePathOfTheSecondOne) {
  EXPECT_EQ(first_duplicate_json_key(R"({"command": "a", "command": "b"})"), "command");
  EXPECT_EQ(
      first_duplicate_json_key(R"({"permissions": [{"pattern": "**/.env", "permission": "none"}],
                                         "codebaseId": "cb", "permissions": []})"),
      "permissions");
  EXPECT_EQ(first_duplicate_json_key(
                R"({"permissions": [{"pattern": "a", "permission": "read"},
                                    [1, {"x": 1}], {"pattern": "b", "pattern": "**"}]})"),
            "permissions[2].pattern");
  EXPECT_EQ(first_duplicate_json_key(R"({"labels": {"team": "a", "team": "b"}})"), "labels.team");
  EXPECT_EQ(first_duplicate_json_key(R"([{"a": 1}, {"b": 1, "b": 2}])"), "[1].b");
}

TEST(JsonDuplicateKey, KeysAreComparedAfterUnescaping) {
  // "\u0063ommand" is "command": a byte comparison would miss it.
  EXPECT_EQ(first_duplicate_json_key(R"({"command": "a", "\u0063ommand": "b"})"), "command");
}

TEST(JsonDuplicateKey, TextThatDoesNotParseIsLeftToTheParser) {
  EXPECT_EQ(first_duplicate_json_key(R"({"a": 1, "b")"), std::nullopt);
  EXPECT_EQ(first_duplicate_json_key("{not json"), std::nullopt);
}

}  // namespace
}  // namespace agentfense
