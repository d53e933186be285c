// The gRPC transport: the generated sandbox.v1 services, each method forwarding to the
// transport-neutral Api (api.h). ApiError becomes grpc::Status(code, message) with the
// reason in trailing metadata "agentfense-reason"; any other exception becomes INTERNAL
// and is logged to stderr as one JSON line, since it is a bug in the service.
//
// With a CallGate, every call is admitted before the Api sees it (authentication, request
// rate) and runs inside a CallerScope of its principal; a refusal is the gate's
// ApiError (UNAUTHENTICATED, RESOURCE_EXHAUSTED), before any request is parsed or any
// request stream is read. The server runs each service as Admitted(): its calls with one
// request are admitted at their headers, and their request checked for size before it
// is parsed (grpc_admission.h); uploads are admitted here, before their first chunk.
//
// A client-streaming upload whose client cancels makes `next` throw
// ApiError(CANCELLED) instead of returning false, so the service can never mistake a
// dropped connection for the end of the file and commit a truncated upload.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <memory>
#include <string>
#include <vector>

#include "codebase.grpc.pb.h"
#include "sandbox.grpc.pb.h"
#include "server/api.h"
#include "server/call_gate.h"
#include "server/grpc_admission.h"
#include "server/tls_files.h"

namespace agentfense::server {

class GrpcSandboxService final : public v1::SandboxService::Service {
 public:
  explicit GrpcSandboxService(SandboxApi& api, CallGate* gate = nullptr,
                              PrincipalShare* share = nullptr);

  // What the server serves: these methods behind admission at the headers.
  grpc::Service& Admitted() { return admitted_; }

  grpc::Status CreateSandbox(grpc::ServerContext*, const v1::CreateSandboxRequest*,
                             v1::Sandbox*) override;
  grpc::Status GetSandbox(grpc::ServerContext*, const v1::GetSandboxRequest*,
                          v1::Sandbox*) override;
  grpc::Status ListSandboxes(grpc::ServerContext*, const v1::ListSandboxesRequest*,
                             v1::ListSandboxesResponse*) override;
  grpc::Status StartSandbox(grpc::ServerContext*, const v1::StartSandboxRequest*,
                            v1::Sandbox*) override;
  grpc::Status StopSandbox(grpc::ServerContext*, const v1::StopSandboxRequest*,
                           v1::Sandbox*) override;
  grpc::Status DestroySandbox(grpc::ServerContext*, const v1::DestroySandboxRequest*,
                              v1::Empty*) override;
  grpc::Status Exec(grpc::ServerContext*, const v1::ExecRequest*, v1::ExecResult*) override;
  grpc::Status ExecStream(grpc::ServerContext*, const v1::ExecRequest*,
                          grpc::ServerWriter<v1::ExecOutput>*) override;
  grpc::Status CreateSession(grpc::ServerContext*, const v1::CreateSessionRequest*,
                             v1::Session*) override;
  grpc::Status GetSession(grpc::ServerContext*, const v1::GetSessionRequest*,
                          v1::Session*) override;
  grpc::Status ListSessions(grpc::ServerContext*, const v1::ListSessionsRequest*,
                            v1::ListSessionsResponse*) override;
  grpc::Status DestroySession(grpc::ServerContext*, const v1::DestroySessionRequest*,
                              v1::Empty*) override;
  grpc::Status SessionExec(grpc::ServerContext*, const v1::SessionExecRequest*,
                           v1::ExecResult*) override;
  grpc::Status SessionExecStream(grpc::ServerContext*, const v1::SessionExecRequest*,
                                 grpc::ServerWriter<v1::ExecOutput>*) override;
  grpc::Status ListChanges(grpc::ServerContext*, const v1::ListChangesRequest*,
                           v1::ListChangesResponse*) override;
  grpc::Status DiffChanges(grpc::ServerContext*, const v1::DiffChangesRequest*,
                           v1::DiffChangesResponse*) override;
  grpc::Status CommitChanges(grpc::ServerContext*, const v1::CommitChangesRequest*,
                             v1::CommitChangesResponse*) override;
  grpc::Status DiscardChanges(grpc::ServerContext*, const v1::DiscardChangesRequest*,
                              v1::Empty*) override;
  grpc::Status ReadSandboxFile(grpc::ServerContext*, const v1::ReadSandboxFileRequest*,
                               v1::ReadSandboxFileResponse*) override;
  grpc::Status WriteSandboxFile(grpc::ServerContext*, const v1::WriteSandboxFileRequest*,
                                v1::SandboxFileInfo*) override;
  grpc::Status ListSandboxFiles(grpc::ServerContext*, const v1::ListSandboxFilesRequest*,
                                v1::ListSandboxFilesResponse*) override;
  grpc::Status GetAuditEvents(grpc::ServerContext*, const v1::GetAuditEventsRequest*,
                              grpc::ServerWriter<v1::AuditEvent>*) override;
  grpc::Status GetAuditSummary(grpc::ServerContext*, const v1::GetAuditSummaryRequest*,
                               v1::AuditSummary*) override;

 private:
  SandboxApi& api_;
  CallGate* gate_;
  SendWatchdog watchdog_;  // before admitted_, which uses it
  AdmittedService admitted_;
};

class GrpcCodebaseService final : public v1::CodebaseService::Service {
 public:
  explicit GrpcCodebaseService(CodebaseApi& api, CallGate* gate = nullptr,
                               PrincipalShare* share = nullptr);

  // What the server serves: these methods behind admission at the headers.
  grpc::Service& Admitted() { return admitted_; }

  grpc::Status CreateCodebase(grpc::ServerContext*, const v1::CreateCodebaseRequest*,
                              v1::Codebase*) override;
  grpc::Status GetCodebase(grpc::ServerContext*, const v1::GetCodebaseRequest*,
                           v1::Codebase*) override;
  grpc::Status ListCodebases(grpc::ServerContext*, const v1::ListCodebasesRequest*,
                             v1::ListCodebasesResponse*) override;
  grpc::Status DeleteCodebase(grpc::ServerContext*, const v1::DeleteCodebaseRequest*,
                              v1::Empty*) override;
  grpc::Status UploadFiles(grpc::ServerContext*, grpc::ServerReader<v1::UploadChunk>*,
                           v1::UploadResult*) override;
  grpc::Status DownloadFile(grpc::ServerContext*, const v1::DownloadFileRequest*,
                            grpc::ServerWriter<v1::FileChunk>*) override;
  grpc::Status ListFiles(grpc::ServerContext*, const v1::ListFilesRequest*,
                         v1::ListFilesResponse*) override;
  grpc::Status UploadArchive(grpc::ServerContext*, grpc::ServerReader<v1::ArchiveChunk>*,
                             v1::UploadArchiveResult*) override;
  grpc::Status ImportDirectory(grpc::ServerContext*, const v1::ImportDirectoryRequest*,
                               v1::Codebase*) override;

 private:
  CodebaseApi& api_;
  CallGate* gate_;
  PrincipalShare* share_;
  SendWatchdog watchdog_;  // before admitted_, which uses it
  AdmittedService admitted_;
};

// Builds and starts a server on `address` ("host:port"; ":9000" = every interface;
// port 0 = any free port) serving `services` (the Admitted() ones), which must outlive it, over TLS
// when `tls` names files (grpc_credentials.h). Throws UserError for a malformed address,
// SystemError when it cannot be bound.
struct StartedGrpcServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the port actually bound
};
StartedGrpcServer StartGrpcServer(const std::string& address,
                                  const std::vector<grpc::Service*>& services,
                                  const TlsFiles& tls = {});

// Both services plus their server, for the daemon: Start once, Stop (or destroy) once.
class GrpcTransport {
 public:
  GrpcTransport(CodebaseApi& codebases, SandboxApi& sandboxes, CallGate* gate = nullptr);
  ~GrpcTransport() { Stop(); }
  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;

  int Start(const std::string& address, const TlsFiles& tls = {});  // returns the bound port
  // Stops accepting calls and gives running ones `grace` to finish before cancelling.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  PrincipalShare share_;  // before the services, which hold its address
  GrpcCodebaseService codebase_service_;
  GrpcSandboxService sandbox_service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace agentfense::server
