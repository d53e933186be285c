// The service layer's interface, independent of transport: the gRPC adapter
// (grpc_service.*) and the REST gateway (rest_*.*) both translate into these calls, so
// the two can never disagree about behaviour.
//
// Error contract: every method either returns its result or throws ApiError
// (common/api_error.h: a status code, a one-line message naming what was wrong, a
// reason); a UserError counts as INVALID_ARGUMENT. What each transport sends for them is
// decided in one place (error_status.h). Anything else thrown is a bug and becomes
// INTERNAL. gRPC sends the reason as trailing metadata "agentfense-reason", REST as the
// "reason" field of the JSON error body.
//
// Streams: server-streaming methods call `emit` once per message; `emit` returns false
// once the client has gone, and the method then stops emitting. Client-streaming
// methods pull messages with `next`, which returns false at the end of the stream.
//
// Calls that run a command take a CallContext (call_context.h): when the client goes
// away (cancel, deadline, closed connection, or `emit` returning false) the command is
// killed with its whole process tree at once and the method throws ApiError(CANCELLED).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "codebase.pb.h"
#include "common.pb.h"
#include "common/api_error.h"
#include "common/streams.h"
#include "common/user_text.h"
#include "sandbox.pb.h"
#include "server/call_context.h"

namespace agentfense::server {

namespace v1 = ::sandbox::v1;

inline constexpr const char* kReasonMetadataKey = "agentfense-reason";

// Charges a large answer that only reads (ListFiles, ListCodebases, a tenant's page of
// ListSandboxes) to the server's budget for answers until sent, against the caller's
// tenant's share (SandboxService::hold_caller_answer); throws RESOURCE_EXHAUSTED past
// it. Layers that answer without the service ask by it.
using HoldAnswer = std::function<void(const google::protobuf::Message& answer, const char* what)>;
// gRPC trailing metadata carrying a CommandTimeoutError's partial result.
inline constexpr const char* kExecResultMetadataKey = "agentfense-exec-result-bin";

// A command that ran out of time (DEADLINE_EXCEEDED, reason COMMAND_TIMEOUT), with what
// it printed before it was killed, so a caller can see where it hung. gRPC sends it as
// trailing metadata kExecResultMetadataKey (a serialized ExecResult holding the tail of
// each stream: clients refuse metadata beyond 8 KiB), REST as the error body's "result"
// (all of it: the last MiB of each stream, up to 16 MB of JSON for control bytes).
class CommandTimeoutError : public ApiError {
 public:
  CommandTimeoutError(const std::string& message, v1::ExecResult partial)
      : ApiError(StatusCode::DEADLINE_EXCEEDED, message, kReasonCommandTimeout),
        partial_(std::move(partial)) {}
  const v1::ExecResult& partial() const { return partial_; }
  // What the error's body is charged to until it was sent (the exec's output budget:
  // UnaryOutput::charged); before, a REST body read slowly was held uncounted.
  struct BodyCharge {
    std::function<void(std::size_t body_bytes)> settle;  // once rendered: its size
    std::shared_ptr<void> hold;                          // kept until sent
  };
  void charge_body_to(BodyCharge charge) { charge_ = std::move(charge); }
  const BodyCharge& body_charge() const { return charge_; }

 private:
  v1::ExecResult partial_;
  BodyCharge charge_;
};

class CodebaseApi {
 public:
  virtual ~CodebaseApi() = default;
  virtual v1::Codebase CreateCodebase(const v1::CreateCodebaseRequest&) = 0;
  virtual v1::Codebase GetCodebase(const v1::GetCodebaseRequest&) = 0;
  virtual v1::ListCodebasesResponse ListCodebases(const v1::ListCodebasesRequest&) = 0;
  virtual void DeleteCodebase(const v1::DeleteCodebaseRequest&) = 0;
  virtual v1::UploadResult UploadFiles(const Next<v1::UploadChunk>& next) = 0;
  virtual void DownloadFile(const v1::DownloadFileRequest&, const Emit<v1::FileChunk>& emit) = 0;
  virtual v1::ListFilesResponse ListFiles(const v1::ListFilesRequest&) = 0;
  virtual v1::UploadArchiveResult UploadArchive(const Next<v1::ArchiveChunk>& next) = 0;
  virtual v1::Codebase ImportDirectory(const v1::ImportDirectoryRequest&) = 0;
};

class SandboxApi {
 public:
  virtual ~SandboxApi() = default;
  virtual v1::Sandbox CreateSandbox(const v1::CreateSandboxRequest&) = 0;
  virtual v1::Sandbox GetSandbox(const v1::GetSandboxRequest&) = 0;
  virtual v1::ListSandboxesResponse ListSandboxes(const v1::ListSandboxesRequest&) = 0;
  virtual v1::Sandbox StartSandbox(const v1::StartSandboxRequest&) = 0;
  virtual v1::Sandbox StopSandbox(const v1::StopSandboxRequest&) = 0;
  virtual void DestroySandbox(const v1::DestroySandboxRequest&) = 0;

  virtual v1::ExecResult Exec(const v1::ExecRequest&, CallContext& call) = 0;
  virtual void ExecStream(const v1::ExecRequest&, CallContext& call,
                          const Emit<v1::ExecOutput>& emit) = 0;

  virtual v1::Session CreateSession(const v1::CreateSessionRequest&) = 0;
  virtual v1::Session GetSession(const v1::GetSessionRequest&) = 0;
  virtual v1::ListSessionsResponse ListSessions(const v1::ListSessionsRequest&) = 0;
  virtual void DestroySession(const v1::DestroySessionRequest&) = 0;
  virtual v1::ExecResult SessionExec(const v1::SessionExecRequest&, CallContext& call) = 0;
  virtual void SessionExecStream(const v1::SessionExecRequest&, CallContext& call,
                                 const Emit<v1::ExecOutput>& emit) = 0;

  virtual v1::ListChangesResponse ListChanges(const v1::ListChangesRequest&) = 0;
  virtual v1::DiffChangesResponse DiffChanges(const v1::DiffChangesRequest&) = 0;
  virtual v1::CommitChangesResponse CommitChanges(const v1::CommitChangesRequest&) = 0;
  virtual void DiscardChanges(const v1::DiscardChangesRequest&) = 0;

  virtual v1::ReadSandboxFileResponse ReadSandboxFile(const v1::ReadSandboxFileRequest&) = 0;
  virtual v1::SandboxFileInfo WriteSandboxFile(const v1::WriteSandboxFileRequest&) = 0;
  virtual v1::ListSandboxFilesResponse ListSandboxFiles(const v1::ListSandboxFilesRequest&) = 0;

  // The trail, also of a destroyed sandbox (NOT_FOUND when there is none). With follow,
  // runs until `call` is cancelled or `emit` returns false.
  virtual void GetAuditEvents(const v1::GetAuditEventsRequest&, CallContext& call,
                              const Emit<v1::AuditEvent>& emit) = 0;
  virtual v1::AuditSummary GetAuditSummary(const v1::GetAuditSummaryRequest&) = 0;
};

}  // namespace agentfense::server
