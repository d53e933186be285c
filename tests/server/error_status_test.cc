// The one error mapping (error_status.h, transport_status.h): every kind of failure a
// call can end with, and what each transport sends for it, from one expected table. The
// transport test throws each kind through real gRPC and REST clients, so a change to
// either rendering or to the mapping fails here.
#include "server/error_status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "common/errors.h"
#include "server/transport_status.h"
#include "transport_fixture.h"

namespace agentfense::server::testing {
namespace {

using G = grpc::StatusCode;
using S = StatusCode;

// Every code an ApiError can carry, as both transports send it.
struct CodeRow {
  S code;
  G grpc;
  int http;
};
const std::vector<CodeRow> kCodes = {
    {S::CANCELLED, G::CANCELLED, 499},
    {S::UNKNOWN, G::UNKNOWN, 500},
    {S::INVALID_ARGUMENT, G::INVALID_ARGUMENT, 400},
    {S::DEADLINE_EXCEEDED, G::DEADLINE_EXCEEDED, 504},
    {S::NOT_FOUND, G::NOT_FOUND, 404},
    {S::ALREADY_EXISTS, G::ALREADY_EXISTS, 409},
    {S::PERMISSION_DENIED, G::PERMISSION_DENIED, 403},
    {S::RESOURCE_EXHAUSTED, G::RESOURCE_EXHAUSTED, 429},
    {S::FAILED_PRECONDITION, G::FAILED_PRECONDITION, 409},
    {S::ABORTED, G::ABORTED, 409},
    {S::OUT_OF_RANGE, G::OUT_OF_RANGE, 400},
    {S::UNIMPLEMENTED, G::UNIMPLEMENTED, 501},
    {S::INTERNAL, G::INTERNAL, 500},
    {S::UNAVAILABLE, G::UNAVAILABLE, 503},
    {S::DATA_LOSS, G::DATA_LOSS, 500},
    {S::UNAUTHENTICATED, G::UNAUTHENTICATED, 401},
};

// Every other kind of failure: what it is thrown as, and what the client is told.
struct KindRow {
  const char* kind;
  std::function<void()> fail;
  G grpc;
  int http;
  const char* status;  // the REST body's "status"
  std::string message;
  const char* reason;
};
const std::vector<KindRow> kKinds = {
    {"UserError", [] { throw UserError("invalid environment variable name 'A=B'"); },
     G::INVALID_ARGUMENT, 400, "INVALID_ARGUMENT", "invalid environment variable name 'A=B'", ""},
    {"UserError with control bytes", [] { throw UserError("bad \x1b[31m name"); },
     G::INVALID_ARGUMENT, 400, "INVALID_ARGUMENT", "bad \\x1b[31m name", ""},
    {"ApiError with a reason",
     [] { throw ApiError(S::NOT_FOUND, "sandbox sb_9 not found", kReasonSandboxNotFound); },
     G::NOT_FOUND, 404, "NOT_FOUND", "sandbox sb_9 not found", "SANDBOX_NOT_FOUND"},
    {"CommandTimeoutError",
     [] {
       v1::ExecResult partial;
       partial.set_stdout("so far");
       throw CommandTimeoutError("command timed out after 1s", partial);
     },
     G::DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED", "command timed out after 1s",
     "COMMAND_TIMEOUT"},
    // Unexpected failures: what kind, and an id to find the whole error in the log, never
    // the server's own paths (the id is random: compared up to it).
    {"ApiError with code OK", [] { throw ApiError(S::OK, "not a success"); }, G::INTERNAL, 500,
     "INTERNAL", "internal error (err_", ""},
    {"SystemError", [] { throw SystemError("open /srv/data/x", ENOSPC); }, G::INTERNAL, 500,
     "INTERNAL", "internal error: No space left on device (err_", ""},
    {"std::exception", [] { throw std::out_of_range("map::at"); }, G::INTERNAL, 500, "INTERNAL",
     "internal error (err_", ""},
    {"std::exception without a message", [] { throw std::runtime_error(""); }, G::INTERNAL, 500,
     "INTERNAL", "internal error (err_", ""},
    {"not a std::exception", [] { throw 42; }, G::INTERNAL, 500, "INTERNAL", "internal error (err_",
     ""},
};

TEST(TransportStatusTest, EveryCodeHasOneGrpcCodeAndOneHttpStatus) {
  for (const CodeRow& row : kCodes) {
    EXPECT_EQ(TransportStatusOf(row.code).grpc, row.grpc) << status_code_name(row.code);
    EXPECT_EQ(TransportStatusOf(row.code).http, row.http) << status_code_name(row.code);
  }
  EXPECT_EQ(TransportStatusOf(S::OK).http, 200);
  EXPECT_EQ(TransportStatusOf(static_cast<S>(99)).grpc, G::INTERNAL);
  EXPECT_EQ(TransportStatusOf(static_cast<S>(99)).http, 500);
  EXPECT_STREQ(status_code_name(S::FAILED_PRECONDITION), "FAILED_PRECONDITION");
}

TEST(TransportStatusTest, HttpErrorsOfHttplibMapBack) {
  EXPECT_EQ(StatusFromHttp(413), S::INVALID_ARGUMENT);
  EXPECT_EQ(StatusFromHttp(405), S::UNIMPLEMENTED);
  EXPECT_EQ(StatusFromHttp(408), S::DEADLINE_EXCEEDED);
  EXPECT_EQ(StatusFromHttp(418), S::INTERNAL);
}

TEST(DescribeErrorTest, EveryApiErrorKeepsItsCodeMessageAndReason) {
  for (const CodeRow& row : kCodes) {
    const ErrorInfo info =
        DescribeError(std::make_exception_ptr(ApiError(row.code, "m", "R")), "test");
    EXPECT_EQ(info.code, row.code) << status_code_name(row.code);
    EXPECT_EQ(info.message, "m");
    EXPECT_EQ(info.reason, "R");
    EXPECT_FALSE(info.partial);
  }
}

TEST(DescribeErrorTest, TimeoutCarriesTheOutputSoFar) {
  v1::ExecResult partial;
  partial.set_stdout("so far");
  const ErrorInfo info =
      DescribeError(std::make_exception_ptr(CommandTimeoutError("timed out", partial)), "test");
  ASSERT_TRUE(info.partial);
  EXPECT_EQ(info.partial->stdout(), "so far");
}

std::string ReasonOf(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kReasonMetadataKey);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

class ErrorTransportTest : public TransportTest {
 protected:
  // The failure the Api throws now, as the real gRPC and REST clients receive it.
  void ExpectBothTransportsSend(const std::string& name, G grpc, int http, const char* status,
                                const std::string& message, const std::string& reason) {
    SCOPED_TRACE(name);
    grpc::ClientContext context;
    v1::GetSandboxRequest request;
    request.set_sandbox_id("sb_1");
    v1::Sandbox sandbox;
    const grpc::Status sent = sandboxes_->GetSandbox(&context, request, &sandbox);
    EXPECT_EQ(sent.error_code(), grpc);
    EXPECT_EQ(sent.error_message().substr(0, message.size()), message);
    EXPECT_EQ(sent.error_message().find("/srv/data"), std::string::npos);
    EXPECT_EQ(ReasonOf(context), reason);

    const httplib::Result result = http_->Get("/v1/sandboxes/sb_1");
    const nlohmann::json body = Json(result);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, http);
    EXPECT_EQ(body["code"], static_cast<int>(grpc));
    EXPECT_EQ(body["status"], std::string(status));
    EXPECT_EQ(body["message"].get<std::string>().substr(0, message.size()), message);
    EXPECT_EQ(body["message"].get<std::string>().find("/srv/data"), std::string::npos);
    EXPECT_EQ(body["reason"], reason);
  }
};

TEST_F(ErrorTransportTest, EveryCodeReachesBothClientsAsTheTableSays) {
  for (const CodeRow& row : kCodes) {
    api_.throw_plain = [&row] { throw ApiError(row.code, "failed", "WHY"); };
    ExpectBothTransportsSend(status_code_name(row.code), row.grpc, row.http,
                             status_code_name(row.code), "failed", "WHY");
  }
}

TEST_F(ErrorTransportTest, EveryKindOfFailureReachesBothClientsAsTheTableSays) {
  for (const KindRow& row : kKinds) {
    api_.throw_plain = row.fail;
    ExpectBothTransportsSend(row.kind, row.grpc, row.http, row.status, row.message, row.reason);
  }
}

}  // namespace
}  // namespace agentfense::server::testing
