// REST: JSON in both spellings, enum names out, path/query parameters, every route
// reaching the right Api method.
#include "transport_fixture.h"

namespace agentfense::server::testing {
namespace {

using RestGatewayTest = TransportTest;

TEST_F(RestGatewayTest, CreateCodebaseAcceptsBothSpellingsAndAnswersCamelCase) {
  auto json =
      Json(http_->Post("/v1/codebases", R"({"name":"repo","owner_id":"u1"})", "application/json"));
  EXPECT_EQ(api_.Last<v1::CreateCodebaseRequest>("CreateCodebase").owner_id(), "u1");
  EXPECT_EQ(json["ownerId"], "u1");
  EXPECT_EQ(json["fileCount"], 0);  // defaults are printed
  EXPECT_FALSE(json.contains("owner_id"));

  Json(http_->Post("/v1/codebases", R"({"ownerId":"u2"})", "application/json"));
  EXPECT_EQ(api_.Last<v1::CreateCodebaseRequest>("CreateCodebase").owner_id(), "u2");
}

TEST_F(RestGatewayTest, EnumsTravelByName) {
  auto json = Json(http_->Post(
      "/v1/sandboxes",
      R"({"codebaseId":"cb_1","permissions":[{"pattern":"**/*.key","permission":"PERMISSION_NONE",
          "type":"PATTERN_TYPE_GLOB"}],"runtime":"RUNTIME_TYPE_BWRAP","expiresIn":"3600s",
          "labels":{"team":"a"}})",
      "application/json"));
  const auto request = api_.Last<v1::CreateSandboxRequest>("CreateSandbox");
  ASSERT_EQ(request.permissions_size(), 1);
  EXPECT_EQ(request.permissions(0).permission(), v1::PERMISSION_NONE);
  EXPECT_EQ(request.runtime(), v1::RUNTIME_TYPE_BWRAP);
  EXPECT_EQ(request.expires_in().seconds(), 3600);
  EXPECT_EQ(request.labels().at("team"), "a");
  EXPECT_EQ(json["status"], "SANDBOX_STATUS_RUNNING");
  EXPECT_EQ(json["permissions"][0]["permission"], "PERMISSION_WRITE");
}

TEST_F(RestGatewayTest, QueryParametersInBothSpellings) {
  auto json = Json(http_->Get("/v1/codebases?owner_id=u1&pageSize=5&page_token=abc"));
  const auto request = api_.Last<v1::ListCodebasesRequest>("ListCodebases");
  EXPECT_EQ(request.owner_id(), "u1");
  EXPECT_EQ(request.page_size(), 5);
  EXPECT_EQ(request.page_token(), "abc");
  EXPECT_EQ(json["nextPageToken"], "next");

  Json(http_->Get("/v1/codebases/cb_7/files?path=/src&recursive=true"));
  const auto files = api_.Last<v1::ListFilesRequest>("ListFiles");
  EXPECT_EQ(files.codebase_id(), "cb_7");
  EXPECT_EQ(files.path(), "/src");
  EXPECT_TRUE(files.recursive());

  auto diff = Json(http_->Get("/v1/sandboxes/sb_1/diff?paths=/a&paths=/b%20c"));
  const auto diff_request = api_.Last<v1::DiffChangesRequest>("DiffChanges");
  ASSERT_EQ(diff_request.paths_size(), 2);
  EXPECT_EQ(diff_request.paths(1), "/b c");
  EXPECT_EQ(diff["diff"], "--- a/x\n+++ b/x\n");
}

TEST_F(RestGatewayTest, PathParametersOverrideTheBody) {
  auto json = Json(http_->Post("/v1/sandboxes/sb_1/exec",
                               R"({"sandbox_id":"sb_other","command":"ls","env":{"A":"1"}})",
                               "application/json"));
  const auto request = api_.Last<v1::ExecRequest>("Exec");
  EXPECT_EQ(request.sandbox_id(), "sb_1");
  EXPECT_EQ(request.command(), "ls");
  EXPECT_EQ(request.env().at("A"), "1");
  EXPECT_EQ(json["stdout"], "out:ls");
  EXPECT_EQ(json["exitCode"], 0);
}

TEST_F(RestGatewayTest, LifecycleSessionAndLayerRoutes) {
  EXPECT_EQ(Json(http_->Get("/v1/codebases/cb_3"))["id"], "cb_3");
  EXPECT_EQ(Json(http_->Delete("/v1/codebases/cb_3")), nlohmann::json::object());
  EXPECT_EQ(api_.Last<v1::DeleteCodebaseRequest>("DeleteCodebase").codebase_id(), "cb_3");
  EXPECT_EQ(Json(http_->Post("/v1/codebases:import", R"({"path":"/srv/x"})",
                             "application/json"))["importedFrom"],
            "/srv/x");
  EXPECT_EQ(Json(http_->Get("/v1/sandboxes?codebase_id=cb_1"))["sandboxes"][0]["id"], "sb_1");
  EXPECT_EQ(api_.Last<v1::ListSandboxesRequest>("ListSandboxes").codebase_id(), "cb_1");
  EXPECT_EQ(Json(http_->Get("/v1/sandboxes/sb_2"))["id"], "sb_2");
  EXPECT_EQ(Json(http_->Post("/v1/sandboxes/sb_2/start", "", "application/json"))["id"], "sb_2");
  EXPECT_EQ(Json(http_->Post("/v1/sandboxes/sb_2/stop", "", "application/json"))["status"],
            "SANDBOX_STATUS_STOPPED");
  EXPECT_EQ(Json(http_->Delete("/v1/sandboxes/sb_2")), nlohmann::json::object());
  EXPECT_EQ(api_.Last<v1::DestroySandboxRequest>("DestroySandbox").sandbox_id(), "sb_2");

  auto session = Json(
      http_->Post("/v1/sandboxes/sb_2/sessions", R"({"shell":"/bin/sh"})", "application/json"));
  EXPECT_EQ(session["sandboxId"], "sb_2");
  EXPECT_EQ(session["status"], "SESSION_STATUS_ACTIVE");
  EXPECT_EQ(api_.Last<v1::CreateSessionRequest>("CreateSession").shell(), "/bin/sh");
  Json(http_->Get("/v1/sandboxes/sb_2/sessions"));
  EXPECT_EQ(api_.Last<v1::ListSessionsRequest>("ListSessions").sandbox_id(), "sb_2");
  EXPECT_EQ(Json(http_->Get("/v1/sessions/se_4"))["id"], "se_4");
  EXPECT_EQ(Json(http_->Post("/v1/sessions/se_4/exec", R"({"command":"pwd"})",
                             "application/json"))["exitCode"],
            1);
  EXPECT_EQ(api_.Last<v1::SessionExecRequest>("SessionExec").session_id(), "se_4");
  EXPECT_EQ(Json(http_->Delete("/v1/sessions/se_4")), nlohmann::json::object());

  auto changes = Json(http_->Get("/v1/sandboxes/sb_2/changes"));
  EXPECT_EQ(changes["changes"][0]["kind"], "CHANGE_KIND_ADDED");
  auto commit = Json(
      http_->Post("/v1/sandboxes/sb_2/commit", R"({"paths":["/a","/b"]})", "application/json"));
  EXPECT_EQ(commit["applied"], nlohmann::json::array({"/a", "/b"}));
  EXPECT_EQ(commit["denied"], nlohmann::json::array());
  EXPECT_EQ(Json(http_->Post("/v1/sandboxes/sb_2/discard", "", "application/json")),
            nlohmann::json::object());
  EXPECT_EQ(api_.Calls("DiscardChanges"), 1);
  Json(http_->Get("/v1/sandboxes/sb_2/files?path=/docs&recursive=false"));
  EXPECT_EQ(api_.Last<v1::ListSandboxFilesRequest>("ListSandboxFiles").path(), "/docs");
}

TEST_F(RestGatewayTest, SandboxFileContentIsRawBothWays) {
  auto read = http_->Get("/v1/sandboxes/sb_1/content/docs/a%20b.bin");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(read->body, std::string("bin\0ary", 7));
  EXPECT_EQ(read->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(api_.Last<v1::ReadSandboxFileRequest>("ReadSandboxFile").path(), "/docs/a b.bin");

  const std::string content("\x00\xff raw", 6);
  auto written =
      Json(http_->Put("/v1/sandboxes/sb_1/content/out/x", content, "application/octet-stream"));
  const auto request = api_.Last<v1::WriteSandboxFileRequest>("WriteSandboxFile");
  EXPECT_EQ(request.sandbox_id(), "sb_1");
  EXPECT_EQ(request.path(), "/out/x");
  EXPECT_EQ(request.content(), content);
  EXPECT_EQ(written["size"], "6");  // int64 is a string in proto3 JSON
  EXPECT_EQ(written["permission"], "PERMISSION_WRITE");
}

}  // namespace
}  // namespace agentfense::server::testing
