#include "common/json_shape.h"

#include <gtest/gtest.h>

namespace agentfense {
namespace {

// The duplicate's path, or nullopt (no issue, or another kind).
std::optional<std::string> duplicate_in(std::string_view text) {
  const std::optional<JsonShapeIssue> issue = first_json_shape_issue(text);
  if (!issue || issue->kind != JsonShapeIssue::Kind::kDuplicateKey) return std::nullopt;
  return issue->path;
}

TEST(JsonShape, NoneInOrdinaryRequests) {
  EXPECT_EQ(duplicate_in(R"({"command": "echo", "env": {"A": "1", "B": "2"}})"), std::nullopt);
  // The same key in sibling objects is not a duplicate.
  EXPECT_EQ(duplicate_in(
                R"({"permissions": [{"pattern": "a", "permission": "read"},
                                    {"pattern": "b", "permission": "none"}]})"),
            std::nullopt);
  EXPECT_EQ(duplicate_in("[]"), std::nullopt);
  EXPECT_EQ(duplicate_in("{}"), std::nullopt);
}

TEST(JsonShape, NamesThePathOfTheSecondOne) {
  EXPECT_EQ(duplicate_in(R"({"command": "a", "command": "b"})"), "command");
  EXPECT_EQ(duplicate_in(R"({"permissions": [{"pattern": "**/.env", "permission": "none"}],
                                         "codebaseId": "cb", "permissions": []})"),
            "permissions");
  EXPECT_EQ(duplicate_in(
                R"({"permissions": [{"pattern": "a", "permission": "read"},
                                    [1, {"x": 1}], {"pattern": "b", "pattern": "**"}]})"),
            "permissions[2].pattern");
  EXPECT_EQ(duplicate_in(R"({"labels": {"team": "a", "team": "b"}})"), "labels.team");
  EXPECT_EQ(duplicate_in(R"([{"a": 1}, {"b": 1, "b": 2}])"), "[1].b");
}

TEST(JsonShape, KeysAreComparedAfterUnescaping) {
  // "\u0063ommand" is "command": a byte comparison would miss it.
  EXPECT_EQ(duplicate_in(R"({"command": "a", "\u0063ommand": "b"})"), "command");
}

TEST(JsonShape, TextThatDoesNotParseIsLeftToTheParser) {
  EXPECT_EQ(duplicate_in(R"({"a": 1, "b")"), std::nullopt);
  EXPECT_EQ(duplicate_in("{not json"), std::nullopt);
}

TEST(JsonShape, CountsEveryValueContainersIncluded) {
  // {} 1, [] 1, three scalars: 5 values.
  EXPECT_EQ(first_json_shape_issue(R"({"a": [1, 2, "x"]})", 5), std::nullopt);
  const std::optional<JsonShapeIssue> issue = first_json_shape_issue(R"({"a": [1, 2, "x"]})", 4);
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->kind, JsonShapeIssue::Kind::kTooManyValues);
  EXPECT_EQ(issue->path, "a[2]");
}

TEST(JsonShape, AHugeArrayOfTinyValuesStopsAtTheLimit) {
  std::string body = R"({"codebaseId": "cb", "x": [)";
  for (int i = 0; i < 300'000; ++i) body += i ? ",0" : "0";
  body += "]}";
  const std::optional<JsonShapeIssue> issue = first_json_shape_issue(body);
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->kind, JsonShapeIssue::Kind::kTooManyValues);
  EXPECT_EQ(issue->path, "x[" + std::to_string(kMaxJsonValues - 3) + "]");
}

}  // namespace
}  // namespace agentfense
