// Both transports cancel the CallContext of an exec the moment its client goes away
// (issue 9 item 6): a gRPC deadline or cancel, an HTTP client closing its connection
// before or after the response began. The fake exec waits for the cancellation the way
// the real service's command does (by watching cancel_fd).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "transport_fixture.h"

namespace agentfense::server::testing {
namespace {

using namespace std::chrono_literals;
using CallCancelTest = TransportTest;

// True when `call` is cancelled within `timeout`, watching its fd as the runtime does.
bool CancelledWithin(CallContext& call, std::chrono::milliseconds timeout) {
  pollfd fd{.fd = call.cancel_fd(), .events = POLLIN, .revents = 0};
  return ::poll(&fd, 1, static_cast<int>(timeout.count())) == 1 && call.cancelled();
}

// A plain TCP client, so the test decides exactly when the connection closes.
class RawHttpClient {
 public:
  explicit RawHttpClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  void Post(const std::string& path, const std::string& body) {
    const std::string request =
        "POST " + path +
        " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    ASSERT_EQ(::send(fd_.get(), request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
  }
  // Reads until `needle` arrived (or 5 s passed).
  bool ReadUntil(const std::string& needle) {
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd in{.fd = fd_.get(), .events = POLLIN, .revents = 0};
      if (::poll(&in, 1, 100) != 1) continue;
      char buffer[4096];
      const ssize_t got = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (got <= 0) return false;
      seen.append(buffer, static_cast<size_t>(got));
      if (seen.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  void Close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

TEST_F(CallCancelTest, GrpcDeadlineCancelsTheCall) {
  std::atomic<bool> saw_cancel = false;
  api_.exec = [&](const v1::ExecRequest&, CallContext& call) {
    saw_cancel = CancelledWithin(call, 5s);
    return v1::ExecResult();
  };
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 300ms);
  v1::ExecResult result;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(sandboxes_->Exec(&context, v1::ExecRequest(), &result).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  grpc_.Stop(5s);  // waits for the handler, which returns once it saw the cancel
  EXPECT_TRUE(saw_cancel);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(CallCancelTest, GrpcClientCancelOfAStreamCancelsTheCall) {
  std::atomic<bool> saw_cancel = false;
  api_.exec_stream = [&](const v1::ExecRequest&, CallContext& call,
                         const Emit<v1::ExecOutput>& emit) {
    v1::ExecOutput output;
    output.set_data("first");
    emit(output);
    saw_cancel = CancelledWithin(call, 5s);
  };
  grpc::ClientContext context;
  auto reader = sandboxes_->ExecStream(&context, v1::ExecRequest());
  v1::ExecOutput output;
  ASSERT_TRUE(reader->Read(&output));
  context.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  grpc_.Stop(5s);
  EXPECT_TRUE(saw_cancel);
}

TEST_F(CallCancelTest, GrpcCallThatCompletesIsNeverCancelled) {
  std::atomic<bool> cancelled = true;
  api_.exec = [&](const v1::ExecRequest&, CallContext& call) {
    std::this_thread::sleep_for(150ms);  // a few watch intervals
    cancelled = call.cancelled();
    return v1::ExecResult();
  };
  grpc::ClientContext context;
  v1::ExecResult result;
  EXPECT_TRUE(sandboxes_->Exec(&context, v1::ExecRequest(), &result).ok());
  EXPECT_FALSE(cancelled);
}

TEST_F(CallCancelTest, RestClientClosingBeforeTheAnswerCancelsTheCall) {
  Signal entered;
  std::atomic<bool> saw_cancel = false;
  api_.exec = [&](const v1::ExecRequest&, CallContext& call) {
    entered.Raise();
    saw_cancel = CancelledWithin(call, 5s);
    return v1::ExecResult();
  };
  RawHttpClient client(rest_port_);
  client.Post("/v1/sandboxes/sb_1/exec", R"({"command":"sleep 178"})");
  ASSERT_TRUE(entered.WaitFor(5s));
  client.Close();
  rest_.stop();  // waits for the handler
  EXPECT_TRUE(saw_cancel);
}

TEST_F(CallCancelTest, RestClientClosingAStreamAfterOutputBeganCancelsTheCall) {
  std::atomic<bool> saw_cancel = false;
  Signal done;
  api_.exec_stream = [&](const v1::ExecRequest&, CallContext& call,
                         const Emit<v1::ExecOutput>& emit) {
    v1::ExecOutput output;
    output.set_data("first");
    emit(output);
    saw_cancel = CancelledWithin(call, 5s);
    done.Raise();
  };
  RawHttpClient client(rest_port_);
  client.Post("/v1/sandboxes/sb_1/exec:stream", R"({"command":"x"})");
  ASSERT_TRUE(client.ReadUntil("OUTPUT_TYPE"));  // the first NDJSON line
  client.Close();
  ASSERT_TRUE(done.WaitFor(5s));
  EXPECT_TRUE(saw_cancel);
}

TEST_F(CallCancelTest, RestKeepAliveClientThatWaitsIsNotCancelled) {
  std::atomic<bool> cancelled = true;
  api_.exec = [&](const v1::ExecRequest&, CallContext& call) {
    std::this_thread::sleep_for(200ms);
    cancelled = call.cancelled();
    return v1::ExecResult();
  };
  const auto result =
      http_->Post("/v1/sandboxes/sb_1/exec", R"({"command":"x"})", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_FALSE(cancelled);
}

}  // namespace
}  // namespace agentfense::server::testing
