#include "server/proto_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "server/api.h"

namespace agentfense::server {
namespace {

StatusCode CodeOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const ApiError& e) {
    return e.code();
  }
  return StatusCode::OK;
}

TEST(ProtoJsonTest, OutputIsCamelCaseWithEnumNamesAndDefaults) {
  v1::ExecResult result;
  result.set_stdout("x");
  const auto json = nlohmann::json::parse(MessageToJson(result));
  EXPECT_EQ(json["stdout"], "x");
  EXPECT_EQ(json["exitCode"], 0);  // default value still printed
  EXPECT_EQ(json["stdoutTruncated"], false);

  v1::SandboxFileInfo info;
  info.set_permission(v1::PERMISSION_READ);
  EXPECT_EQ(nlohmann::json::parse(MessageToJson(info))["permission"], "PERMISSION_READ");
}

TEST(ProtoJsonTest, InputAcceptsBothSpellingsAndRejectsUnknownFields) {
  v1::CreateCodebaseRequest request;
  MergeJsonIntoMessage(R"({"owner_id": "u1", "name": "n"})", request);
  EXPECT_EQ(request.owner_id(), "u1");
  request.Clear();
  MergeJsonIntoMessage(R"({"ownerId": "u2"})", request);
  EXPECT_EQ(request.owner_id(), "u2");
  MergeJsonIntoMessage("  \n", request);  // empty body: unchanged
  EXPECT_EQ(request.owner_id(), "u2");
  EXPECT_EQ(CodeOf([&] { MergeJsonIntoMessage(R"({"ownr": "x"})", request); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf([&] { MergeJsonIntoMessage("{not json", request); }),
            StatusCode::INVALID_ARGUMENT);
}

TEST(ProtoJsonTest, FieldsFromUrlTextByType) {
  v1::ListSandboxFilesRequest files;
  SetFieldFromText(files, "recursive", "true");
  SetFieldFromText(files, "path", "/src");
  EXPECT_TRUE(files.recursive());
  EXPECT_EQ(files.path(), "/src");

  v1::ListCodebasesRequest list;
  SetFieldFromText(list, "pageSize", "25");
  SetFieldFromText(list, "page_token", "t");
  EXPECT_EQ(list.page_size(), 25);
  EXPECT_EQ(list.page_token(), "t");

  v1::DiffChangesRequest diff;
  SetFieldFromText(diff, "paths", "/a");
  SetFieldFromText(diff, "paths", "/b");
  ASSERT_EQ(diff.paths_size(), 2);
  EXPECT_EQ(diff.paths(1), "/b");

  v1::PermissionRule rule;
  SetFieldFromText(rule, "permission", "PERMISSION_VIEW");
  EXPECT_EQ(rule.permission(), v1::PERMISSION_VIEW);
  SetFieldFromText(rule, "permission", "4");
  EXPECT_EQ(rule.permission(), v1::PERMISSION_WRITE);

  EXPECT_EQ(CodeOf([&] { SetFieldFromText(list, "page_size", "ten"); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(list, "page_size", "99999999999"); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(files, "recursive", "yes"); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(rule, "permission", "PERMISSION_ROOT"); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(list, "bogus", "1"); }), StatusCode::INVALID_ARGUMENT);
  v1::CreateSandboxRequest create;
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(create, "resources", "1"); }),
            StatusCode::INVALID_ARGUMENT);
}

std::string MessageOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const ApiError& e) {
    return e.what();
  }
  return "";
}

// Issue 11 item 4: "read" as well as "PERMISSION_READ", in any case, for every enum.
TEST(ProtoJsonTest, EnumsAcceptTheSpellingsUsersType) {
  v1::CreateSandboxRequest request;
  MergeJsonIntoMessage(R"({"permissions": [
      {"pattern": "a", "permission": "read", "type": "glob"},
      {"pattern": "b", "permission": "WRITE", "type": "Directory"},
      {"pattern": "c", "permission": "None", "type": "file"},
      {"pattern": "d", "permission": "permission_view", "type": "PATTERN_TYPE_FILE"},
      {"pattern": "e", "permission": "PERMISSION_READ"},
      {"pattern": "f", "permission": 4}],
    "runtime": "docker", "sync_mode": "Manual", "labels": {"k": "read"}})",
                       request);
  ASSERT_EQ(request.permissions_size(), 6);
  EXPECT_EQ(request.permissions(0).permission(), v1::PERMISSION_READ);
  EXPECT_EQ(request.permissions(0).type(), v1::PATTERN_TYPE_GLOB);
  EXPECT_EQ(request.permissions(1).permission(), v1::PERMISSION_WRITE);
  EXPECT_EQ(request.permissions(1).type(), v1::PATTERN_TYPE_DIRECTORY);
  EXPECT_EQ(request.permissions(2).permission(), v1::PERMISSION_NONE);
  EXPECT_EQ(request.permissions(2).type(), v1::PATTERN_TYPE_FILE);
  EXPECT_EQ(request.permissions(3).permission(), v1::PERMISSION_VIEW);
  EXPECT_EQ(request.permissions(4).permission(), v1::PERMISSION_READ);
  EXPECT_EQ(request.permissions(5).permission(), v1::PERMISSION_WRITE);
  EXPECT_EQ(request.runtime(), v1::RUNTIME_TYPE_DOCKER);
  EXPECT_EQ(request.sync_mode(), v1::SYNC_MODE_MANUAL);
  EXPECT_EQ(request.labels().at("k"), "read");  // strings are never touched

  v1::PermissionRule rule;
  SetFieldFromText(rule, "permission", "view");
  EXPECT_EQ(rule.permission(), v1::PERMISSION_VIEW);
  SetFieldFromText(rule, "type", "DIRECTORY");
  EXPECT_EQ(rule.type(), v1::PATTERN_TYPE_DIRECTORY);
}

TEST(ProtoJsonTest, AnUnknownEnumSpellingNamesTheFieldAndTheChoices) {
  v1::CreateSandboxRequest request;
  const std::string message = MessageOf([&] {
    MergeJsonIntoMessage(R"({"permissions": [{"pattern": "a", "permission": "read"},
                                             {"pattern": "b", "permission": "reed"}]})",
                         request);
  });
  EXPECT_NE(message.find("permissions[1].permission"), std::string::npos) << message;
  EXPECT_NE(message.find("'reed' is not a Permission value"), std::string::npos) << message;
  EXPECT_NE(message.find("none, view, read, write (any case, or PERMISSION_NONE"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("unspecified"), std::string::npos) << message;
  v1::PermissionRule rule;
  const std::string param = MessageOf([&] { SetFieldFromText(rule, "type", "folder"); });
  EXPECT_NE(param.find("glob, directory, file"), std::string::npos) << param;
  // A prefix alone, or the prefix of another enum, is no spelling.
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(rule, "permission", "PERMISSION_"); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CodeOf([&] { SetFieldFromText(rule, "permission", "PATTERN_TYPE_GLOB"); }),
            StatusCode::INVALID_ARGUMENT);
}

TEST(ProtoJsonTest, ErrorBodyCarriesCodeNameMessageAndReason) {
  const auto json = nlohmann::json::parse(
      ErrorJson(StatusCode::NOT_FOUND, "sandbox sb_9 not found", kReasonSandboxNotFound));
  EXPECT_EQ(json["code"], 5);
  EXPECT_EQ(json["status"], "NOT_FOUND");
  EXPECT_EQ(json["message"], "sandbox sb_9 not found");
  EXPECT_EQ(json["reason"], "SANDBOX_NOT_FOUND");
}

}  // namespace
}  // namespace agentfense::server
