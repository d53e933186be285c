// REST: errors, unknown routes and methods, the access log.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "common/unique_fd.h"
#include "transport_fixture.h"

namespace agentfense::server::testing {
namespace {

using RestErrorsTest = TransportTest;

TEST_F(RestErrorsTest, ApiErrorBecomesMappedStatusAndJsonBody) {
  api_.fail_with =
      ApiError(StatusCode::NOT_FOUND, "sandbox sb_9 not found", kReasonSandboxNotFound);
  auto result = http_->Get("/v1/sandboxes/sb_9");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  auto json = nlohmann::json::parse(result->body);
  EXPECT_EQ(json["code"], 5);
  EXPECT_EQ(json["status"], "NOT_FOUND");
  EXPECT_EQ(json["message"], "sandbox sb_9 not found");
  EXPECT_EQ(json["reason"], "SANDBOX_NOT_FOUND");

  api_.fail_with = ApiError(StatusCode::FAILED_PRECONDITION, "sandbox sb_1 is stopped",
                            kReasonSandboxNotRunning);
  result = http_->Post("/v1/sandboxes/sb_1/exec", R"({"command":"ls"})", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 409);
  EXPECT_EQ(nlohmann::json::parse(result->body)["reason"], "SANDBOX_NOT_RUNNING");
}

TEST_F(RestErrorsTest, OtherExceptionsAreInternal) {
  api_.throw_plain = [] { throw std::logic_error("bug in service"); };
  auto result = http_->Get("/v1/codebases/cb_1");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 500);
  auto json = nlohmann::json::parse(result->body);
  EXPECT_EQ(json["status"], "INTERNAL");
  EXPECT_EQ(json["message"].get<std::string>().rfind("internal error (err_", 0), 0u)
      << json["message"];  // the whole error is the server log's
}

TEST_F(RestErrorsTest, MalformedJsonAndBadParametersAre400) {
  auto result = http_->Post("/v1/codebases", "{\"name\": ", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  auto json = nlohmann::json::parse(result->body);
  EXPECT_EQ(json["status"], "INVALID_ARGUMENT");
  EXPECT_NE(json["message"].get<std::string>().find("CreateCodebaseRequest"), std::string::npos);
  EXPECT_EQ(json["reason"], "INVALID_REQUEST");
  EXPECT_EQ(api_.Calls("CreateCodebase"), 0);

  result = http_->Get("/v1/codebases?page_size=lots");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  result = http_->Get("/v1/codebases?colour=blue");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  EXPECT_NE(result->body.find("colour"), std::string::npos);
  EXPECT_EQ(api_.Calls("ListCodebases"), 0);
}

// Every body that does not parse names what was wrong, with the field when it can, on
// one line: never the parser's bare text.
TEST_F(RestErrorsTest, BodiesThatDoNotParseNameTheProblem) {
  const auto expect_message = [&](const std::string& path, const std::string& body,
                                  const std::vector<std::string>& needles) {
    auto result = http_->Post(path, body, "application/json");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << result->body;
    const auto json = nlohmann::json::parse(result->body);
    EXPECT_EQ(json["reason"], "INVALID_REQUEST") << result->body;
    const std::string message = json["message"];
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& needle : needles)
      EXPECT_NE(message.find(needle), std::string::npos) << needle << " not in: " << message;
  };
  expect_message("/v1/sandboxes/sb_1/exec", "{\"command\": \"a\xff\"}",
                 {"not valid UTF-8", "byte 0xFF at offset 14", "in the value of \"command\""});
  expect_message("/v1/sandboxes/sb_1/exec", "{\"comand\": \"ls\"}",
                 {"unknown field 'comand' in ExecRequest"});
  expect_message("/v1/sandboxes/sb_1/exec", "{\"command\": \"ls\", \"timeout\": 5}",
                 {"invalid value for field 'timeout' of ExecRequest"});
  expect_message("/v1/sandboxes/sb_1/exec", "{\"env\": {\"A\": \"1\", \"B\": 2}}",
                 {"field 'env.B'"});
  expect_message("/v1/sandboxes", "{\"permissions\": [{}, {\"permission\": \"NOPE\"}]}",
                 {"field 'permissions[1].permission' of CreateSandboxRequest"});
  expect_message("/v1/sandboxes", "{\"resources\": {\"memory_bytes\": \"x\"}}",
                 {"field 'resources.memory_bytes'"});
  expect_message("/v1/sandboxes", "[]",
                 {"must be a JSON object ({...}) for CreateSandboxRequest, got an array"});
  expect_message("/v1/sandboxes", "{\"labels\": {\"a\": 1",
                 {"is not valid JSON", "line 1, column"});
  EXPECT_EQ(api_.Calls("Exec"), 0);
  EXPECT_EQ(api_.Calls("CreateSandbox"), 0);
}

TEST_F(RestErrorsTest, UnknownRouteIs404AndWrongMethodIs405) {
  auto result = http_->Get("/v1/nothing/here");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(nlohmann::json::parse(result->body)["status"], "NOT_FOUND");

  result = http_->Put("/v1/sandboxes/sb_1", "{}", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 405);
  EXPECT_EQ(result->get_header_value("Allow"), "DELETE, GET");
  EXPECT_EQ(nlohmann::json::parse(result->body)["status"], "UNIMPLEMENTED");

  result = http_->Get("/v1/sandboxes/sb_1/exec");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 405);
}

TEST_F(RestErrorsTest, AccessLogSeesEveryRequest) {
  // The hook must be set before listen(): use a gateway of our own.
  RestGateway gateway(api_, api_);
  std::mutex mutex;
  std::vector<std::tuple<std::string, std::string, int>> entries;
  gateway.set_access_log([&](const std::string& method, const std::string& path, int status,
                             std::chrono::microseconds duration) {
    std::lock_guard lock(mutex);
    EXPECT_GE(duration.count(), 0);
    entries.emplace_back(method, path, status);
  });
  httplib::Client client("127.0.0.1", gateway.listen("127.0.0.1:0"));
  ASSERT_TRUE(client.Get("/v1/codebases/cb_1"));
  ASSERT_TRUE(client.Delete("/v1/nope"));
  gateway.stop();
  std::lock_guard lock(mutex);
  ASSERT_EQ(entries.size(), 2u);
  // Each request had its own connection and thread: the order of the entries is free.
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries[0], std::make_tuple(std::string("DELETE"), std::string("/v1/nope"), 404));
  EXPECT_EQ(entries[1],
            std::make_tuple(std::string("GET"), std::string("/v1/codebases/cb_1"), 200));
}

// curl -X POST sends neither Content-Length nor a chunked body; the gateway must answer
// at once rather than wait for a body that never comes.
TEST_F(RestErrorsTest, PostWithoutContentLengthIsAnsweredPromptly) {
  UniqueFd sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(sock.get(), 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(rest_port_));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(sock.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const timeval timeout{3, 0};
  ASSERT_EQ(setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
  const std::string request =
      "POST /v1/sandboxes/sb_3/start HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(sock.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(sock.get(), buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << "[" << response << "]";
  EXPECT_EQ(api_.Last<v1::StartSandboxRequest>("StartSandbox").sandbox_id(), "sb_3");
}

TEST_F(RestErrorsTest, ListenRejectsABusyPort) {
  RestGateway second(api_, api_);
  EXPECT_THROW(second.listen("127.0.0.1:" + std::to_string(rest_port_)), UserError);
}

}  // namespace
}  // namespace agentfense::server::testing
