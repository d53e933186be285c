// gRPC: forwarding, error translation with the reason metadata, streams both ways,
// cancellation, and the server builder.
#include <atomic>
#include <thread>

#include "common/errors.h"
#include "server/request_wire_check.h"
#include "transport_fixture.h"

namespace agentfense::server::testing {
namespace {

using namespace std::chrono_literals;
using GrpcServiceTest = TransportTest;

std::string ReasonOf(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kReasonMetadataKey);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

TEST_F(GrpcServiceTest, UnaryCallsForwardRequestAndResponse) {
  grpc::ClientContext context;
  v1::ExecRequest request;
  request.set_sandbox_id("sb_1");
  request.set_command("ls");
  v1::ExecResult result;
  ASSERT_TRUE(sandboxes_->Exec(&context, request, &result).ok());
  EXPECT_EQ(result.stdout(), "out:ls");
  EXPECT_EQ(api_.Last<v1::ExecRequest>("Exec").command(), "ls");

  grpc::ClientContext context2;
  v1::DeleteCodebaseRequest remove;
  remove.set_codebase_id("cb_4");
  v1::Empty empty;
  ASSERT_TRUE(codebases_->DeleteCodebase(&context2, remove, &empty).ok());
  EXPECT_EQ(api_.Last<v1::DeleteCodebaseRequest>("DeleteCodebase").codebase_id(), "cb_4");
}

TEST_F(GrpcServiceTest, ApiErrorKeepsCodeMessageAndReason) {
  api_.fail_with =
      ApiError(StatusCode::NOT_FOUND, "sandbox sb_9 not found", kReasonSandboxNotFound);
  grpc::ClientContext context;
  v1::GetSandboxRequest request;
  request.set_sandbox_id("sb_9");
  v1::Sandbox sandbox;
  const auto status = sandboxes_->GetSandbox(&context, request, &sandbox);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "sandbox sb_9 not found");
  EXPECT_EQ(ReasonOf(context), "SANDBOX_NOT_FOUND");

  api_.fail_with = ApiError(StatusCode::INVALID_ARGUMENT, "bad");  // no reason
  grpc::ClientContext context2;
  EXPECT_EQ(sandboxes_->GetSandbox(&context2, request, &sandbox).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(context2.GetServerTrailingMetadata().count(kReasonMetadataKey), 0u);
}

TEST_F(GrpcServiceTest, OtherExceptionsAreInternal) {
  api_.throw_plain = [] { throw std::out_of_range("map::at"); };
  grpc::ClientContext context;
  v1::Codebase codebase;
  const auto status = codebases_->GetCodebase(&context, v1::GetCodebaseRequest(), &codebase);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message().rfind("internal error (err_", 0), 0u) << status.error_message();
}

TEST_F(GrpcServiceTest, ServerStreamsDeliverEveryMessage) {
  grpc::ClientContext context;
  v1::ExecRequest request;
  request.set_sandbox_id("sb_1");
  auto reader = sandboxes_->ExecStream(&context, request);
  std::vector<v1::ExecOutput> outputs;
  for (v1::ExecOutput output; reader->Read(&output);) outputs.push_back(output);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].data(), "line\n");
  EXPECT_EQ(outputs[1].type(), v1::ExecOutput::OUTPUT_TYPE_EXIT);
  EXPECT_EQ(outputs[1].exit_code(), 7);

  grpc::ClientContext download_context;
  v1::DownloadFileRequest download;
  download.set_file_path("/a");
  auto chunks = codebases_->DownloadFile(&download_context, download);
  std::string data;
  for (v1::FileChunk chunk; chunks->Read(&chunk);) data += chunk.data();
  ASSERT_TRUE(chunks->Finish().ok());
  EXPECT_EQ(data, "hello world");
}

TEST_F(GrpcServiceTest, ClientStreamReachesNextInOrder) {
  grpc::ClientContext context;
  v1::UploadResult result;
  auto writer = codebases_->UploadFiles(&context, &result);
  v1::UploadChunk chunk;
  chunk.mutable_metadata()->set_codebase_id("cb_1");
  chunk.mutable_metadata()->set_file_path("/f");
  ASSERT_TRUE(writer->Write(chunk));
  for (const char* piece : {"ab", "cd", "ef"}) {
    chunk.set_data(piece);
    ASSERT_TRUE(writer->Write(chunk));
  }
  ASSERT_TRUE(writer->WritesDone());
  ASSERT_TRUE(writer->Finish().ok());
  ASSERT_EQ(api_.upload_chunks.size(), 4u);
  EXPECT_EQ(api_.upload_chunks[3].data(), "ef");
  EXPECT_EQ(result.size(), 6);
  EXPECT_EQ(result.file_path(), "/f");
}

TEST_F(GrpcServiceTest, CancelledUploadIsNotTakenForTheEnd) {
  Signal saw_data;
  api_.upload_saw_data = &saw_data;
  grpc::ClientContext context;
  v1::UploadResult result;
  auto writer = codebases_->UploadFiles(&context, &result);
  v1::UploadChunk chunk;
  chunk.mutable_metadata()->set_codebase_id("cb_1");
  ASSERT_TRUE(writer->Write(chunk));
  chunk.set_data("partial");
  ASSERT_TRUE(writer->Write(chunk));
  ASSERT_TRUE(saw_data.WaitFor(10s));  // the handler is inside the upload
  context.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  grpc_.Stop(5s);  // waits for the handler, so the fake's record is complete
  EXPECT_EQ(api_.upload_next_threw, StatusCode::CANCELLED);
}

TEST_F(GrpcServiceTest, CancellingTheCallMakesEmitReturnFalse) {
  Signal emit_refused;
  api_.exec_stream = [&](const v1::ExecRequest&, CallContext&, const Emit<v1::ExecOutput>& emit) {
    v1::ExecOutput output;
    output.set_data("tick");
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!emit(output)) {
        emit_refused.Raise();
        return;
      }
      std::this_thread::sleep_for(2ms);
    }
  };
  grpc::ClientContext context;
  auto reader = sandboxes_->ExecStream(&context, v1::ExecRequest());
  v1::ExecOutput output;
  ASSERT_TRUE(reader->Read(&output));
  context.TryCancel();
  EXPECT_TRUE(emit_refused.WaitFor(15s));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Each method takes requests up to its own limit (grpc_admission.h), checked on the
// serialized request: the service never sees a larger one.
TEST_F(GrpcServiceTest, RequestsPastTheirMethodsLimitAreRefusedBeforeTheService) {
  grpc::ClientContext context;
  v1::CreateSandboxRequest request;
  request.set_codebase_id(std::string(kMaxGrpcRequestBytes, 'c'));
  v1::Sandbox sandbox;
  const auto status = sandboxes_->CreateSandbox(&context, request, &sandbox);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("the limit for CreateSandbox is 4 MiB"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(ReasonOf(context), kReasonRequestTooLarge);
  EXPECT_EQ(api_.Calls("CreateSandbox"), 0);

  // Exec carries up to 16 MiB of stdin.
  grpc::ClientContext exec_context;
  v1::ExecRequest exec;
  exec.set_command("cat");
  exec.set_stdin(std::string(16 << 20, 's'));
  v1::ExecResult result;
  const auto exec_status = sandboxes_->Exec(&exec_context, exec, &result);
  ASSERT_TRUE(exec_status.ok()) << exec_status.error_message();
  EXPECT_EQ(api_.Last<v1::ExecRequest>("Exec").stdin().size(), std::size_t{16} << 20);
}

// Repeated fields and unknown fields are counted on the wire: a request of a few MiB of
// empty entries would take gigabytes to parse.
TEST_F(GrpcServiceTest, RequestsWithTooManyEntriesAreRefusedUnparsed) {
  grpc::ClientContext context;
  v1::CreateSandboxRequest request;
  for (std::size_t i = 0; i <= kMaxRepeatedEntries; ++i) request.add_permissions();
  v1::Sandbox sandbox;
  auto status = sandboxes_->CreateSandbox(&context, request, &sandbox);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("permissions has more than 100000 entries"),
            std::string::npos)
      << status.error_message();
  EXPECT_EQ(ReasonOf(context), kReasonRequestTooLarge);

  grpc::ClientContext unknown_context;
  v1::GetSandboxRequest get;
  auto* unknown = get.GetReflection()->MutableUnknownFields(&get);
  for (std::size_t i = 0; i <= kMaxRepeatedEntries; ++i) unknown->AddVarint(99, 0);
  status = sandboxes_->GetSandbox(&unknown_context, get, &sandbox);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("more than 100000 fields this server does not know"),
            std::string::npos)
      << status.error_message();
  EXPECT_EQ(api_.Calls("CreateSandbox") + api_.Calls("GetSandbox"), 0);
}

TEST(GrpcServerTest, BindsAnyFreePortAndReportsIt) {
  FakeApi api;
  GrpcSandboxService service(api);
  auto started = StartGrpcServer(":0", {&service.Admitted()});
  ASSERT_NE(started.server, nullptr);
  EXPECT_GT(started.port, 0);
  // The reported port is the real one: a client reaches the service there.
  auto stub = v1::SandboxService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(started.port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::Sandbox sandbox;
  v1::GetSandboxRequest request;
  request.set_sandbox_id("sb_5");
  ASSERT_TRUE(stub->GetSandbox(&context, request, &sandbox).ok());
  EXPECT_EQ(sandbox.id(), "sb_5");
  EXPECT_THROW(StartGrpcServer("127.0.0.1:" + std::to_string(started.port), {&service.Admitted()}),
               UserError);
  EXPECT_THROW(StartGrpcServer("nonsense", {&service.Admitted()}), UserError);
  started.server->Shutdown();
}

TEST(GrpcServerTest, AcceptsLargeMessages) {
  FakeApi api;
  GrpcTransport transport(api, api);
  const int port = transport.Start("127.0.0.1:0");
  auto stub = v1::SandboxService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::WriteSandboxFileRequest request;
  request.set_content(std::string(6 << 20, 'z'));  // above gRPC's 4 MiB default
  v1::SandboxFileInfo info;
  const auto status = stub->WriteSandboxFile(&context, request, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.size(), 6 << 20);
}

}  // namespace
}  // namespace agentfense::server::testing
