#include "server/grpc_service.h"

#include <optional>

#include "common/errors.h"
#include "server/answer_deadline.h"
#include "server/caller_scope.h"
#include "server/config/address_syntax.h"
#include "server/credential_watch.h"
#include "server/error_status.h"
#include "server/exec_result_tail.h"
#include "server/grpc_cancel_watch.h"
#include "server/grpc_credentials.h"
#include "server/transport_status.h"

namespace agentfense::server {

namespace {

// gRPC clients refuse trailing metadata beyond 8 KiB (Python's default): a timed-out
// command's partial result keeps the last 2 KiB of each stream's text (exec_result_tail.h).
constexpr std::size_t kPartialTailBytes = 2048;

std::string PartialResultMetadata(const v1::ExecResult& result) {
  return ExecResultTail(result, kPartialTailBytes).SerializeAsString();
}

// An answer of one message is made: its send deadline starts (answer_deadline.h).
void AnswerMade(const google::protobuf::Message* response, const grpc::Status& status) {
  AnswerDeadline::answer_made(status.ok() ? response->ByteSizeLong() : 0);
}
// A stream's messages have theirs each (WriteWithin).
template <typename T>
void AnswerMade(grpc::ServerWriter<T>*, const grpc::Status&) {}

// Runs `call` and turns its outcome into the status gRPC sends. A call with one request
// was admitted at its headers and runs as its caller already (grpc_admission.h).
template <typename Response, typename Call>
grpc::Status Answer(grpc::ServerContext* context, const char* method, Response* response,
                    Call&& call) {
  grpc::Status status;
  try {
    call();
  } catch (...) {
    const ErrorInfo error = DescribeError(std::current_exception(), method);
    if (error.partial)
      context->AddTrailingMetadata(kExecResultMetadataKey, PartialResultMetadata(*error.partial));
    status = GrpcStatusOf(*context, error);
  }
  AnswerMade(response, status);
  return status;
}

// Answer() for an upload: its handler runs before the first chunk is read, so it admits
// the call through `gate` (if any) here and runs it as its caller.
template <typename Response, typename Call>
grpc::Status AdmitAndAnswer(grpc::ServerContext* context, CallGate* gate, PrincipalShare* share,
                            const char* method, Response* response, Call&& call) {
  return Answer(context, method, response, [&] {
    if (gate == nullptr) return call();
    PrincipalPtr principal = gate->admit(PresentedBy(*context));
    const std::optional<PrincipalShare::Held> thread = take_share(share, principal);
    const CallerScope caller(std::move(principal));
    call();
  });
}

// The protobuf description of a generated service, whose methods are in .proto order as
// the generated handlers are.
const google::protobuf::ServiceDescriptor& Described(const google::protobuf::FileDescriptor* file,
                                                     const char* service) {
  return *file->FindServiceByName(service);
}

// Runs `run(call)` with a CallContext that is cancelled as soon as the gRPC call is, and
// revoked once its caller's credentials no longer admit it (credential_watch.h).
template <typename Run>
void WithCallContext(grpc::ServerContext* context, const CallGate* gate, Run&& run) {
  CallContext call;
  const GrpcCancelWatch watch(*context, call);
  RunWhileAdmitted(RecheckWith(gate, PresentedBy(*context), current_caller()), call,
                   [&] { run(call); });
  KeptUntilSent::keep(call.take_until_sent());  // until gRPC sent the answer
}

// Writes one message of a stream; a client that has not taken it within
// SendWatchdog::kStalledMessage has its call cancelled, and the write fails.
template <typename T>
bool WriteWithin(grpc::ServerContext* context, grpc::ServerWriter<T>* writer,
                 SendWatchdog& watchdog, const T& message) {
  if (context->IsCancelled()) return false;
  const SendWatchdog::Armed deadline =
      watchdog.arm(context, SendWatchdog::Clock::now() + SendWatchdog::kStalledMessage);
  return writer->Write(message);
}

template <typename T>
Emit<T> EmitTo(grpc::ServerContext* context, grpc::ServerWriter<T>* writer,
               SendWatchdog& watchdog) {
  return [context, writer, &watchdog](const T& message) {
    return WriteWithin(context, writer, watchdog, message);
  };
}

// Re-authenticates the call's caller as its messages pass (credential_watch.h); shared
// by the callbacks that outlive this frame.
std::shared_ptr<MessageCredentialCheck> CredentialCheckFor(grpc::ServerContext* context,
                                                           const CallGate* gate) {
  return std::make_shared<MessageCredentialCheck>(
      RecheckWith(gate, PresentedBy(*context), current_caller()));
}

// The same for a download: no further chunk once the caller's key is revoked.
template <typename T>
Emit<T> EmitWhileAdmitted(grpc::ServerContext* context, const CallGate* gate,
                          grpc::ServerWriter<T>* writer, SendWatchdog& watchdog) {
  auto credentials = CredentialCheckFor(context, gate);
  return [context, writer, credentials, &watchdog](const T& message) {
    credentials->check();
    return WriteWithin(context, writer, watchdog, message);
  };
}

// Read() answers false both at the end of the stream and for a message that does not
// parse, which would then pass for the end and commit a truncated upload. A second
// Read() tells them apart when the client sent more after the bad message (a bad last
// message still reads as the end; uploads with total_size catch that too).
template <typename T>
Next<T> NextFrom(grpc::ServerContext* context, const CallGate* gate,
                 grpc::ServerReader<T>* reader) {
  auto credentials = CredentialCheckFor(context, gate);
  return [context, reader, credentials](T& message) {
    if (reader->Read(&message)) {
      credentials->check();
      return true;
    }
    credentials->final_check();  // before the upload is kept
    if (context->IsCancelled()) {
      throw ApiError(StatusCode::CANCELLED, "client cancelled the upload stream");
    }
    T after;
    if (reader->Read(&after))
      throw ApiError(StatusCode::INVALID_ARGUMENT,
                     "a message of the stream is not a valid " + T::descriptor()->full_name() +
                         ": malformed protobuf, or a string field holding bytes that are not "
                         "UTF-8",
                     kReasonInvalidRequest);
    return false;
  };
}

}  // namespace

// ---- SandboxService ----

GrpcSandboxService::GrpcSandboxService(SandboxApi& api, CallGate* gate, PrincipalShare* share)
    : api_(api),
      gate_(gate),
      admitted_(
          Described(v1::ExecRequest::descriptor()->file(), "SandboxService"),
          [this](int index) { return GetHandler(index); }, gate, share, &watchdog_) {}

GrpcCodebaseService::GrpcCodebaseService(CodebaseApi& api, CallGate* gate, PrincipalShare* share)
    : api_(api),
      gate_(gate),
      share_(share),
      admitted_(
          Described(v1::UploadChunk::descriptor()->file(), "CodebaseService"),
          [this](int index) { return GetHandler(index); }, gate, share, &watchdog_) {}

#define AF_FORWARD(Service, Method, Request, Response, api_call)                     \
  grpc::Status Service::Method(grpc::ServerContext* context, const Request* request, \
                               [[maybe_unused]] Response* response) {                \
    return Answer(context, #Method, response, [&] { api_call; });                    \
  }

AF_FORWARD(GrpcSandboxService, CreateSandbox, v1::CreateSandboxRequest, v1::Sandbox,
           *response = api_.CreateSandbox(*request))
AF_FORWARD(GrpcSandboxService, GetSandbox, v1::GetSandboxRequest, v1::Sandbox,
           *response = api_.GetSandbox(*request))
AF_FORWARD(GrpcSandboxService, ListSandboxes, v1::ListSandboxesRequest, v1::ListSandboxesResponse,
           *response = api_.ListSandboxes(*request))
AF_FORWARD(GrpcSandboxService, StartSandbox, v1::StartSandboxRequest, v1::Sandbox,
           *response = api_.StartSandbox(*request))
AF_FORWARD(GrpcSandboxService, StopSandbox, v1::StopSandboxRequest, v1::Sandbox,
           *response = api_.StopSandbox(*request))
AF_FORWARD(GrpcSandboxService, DestroySandbox, v1::DestroySandboxRequest, v1::Empty,
           api_.DestroySandbox(*request))
AF_FORWARD(GrpcSandboxService, Exec, v1::ExecRequest, v1::ExecResult,
           WithCallContext(context, gate_,
                           [&](CallContext& call) { *response = api_.Exec(*request, call); }))
AF_FORWARD(GrpcSandboxService, ExecStream, v1::ExecRequest, grpc::ServerWriter<v1::ExecOutput>,
           WithCallContext(context, gate_, [&](CallContext& call) {
             api_.ExecStream(*request, call, EmitTo(context, response, watchdog_));
           }))
AF_FORWARD(GrpcSandboxService, CreateSession, v1::CreateSessionRequest, v1::Session,
           *response = api_.CreateSession(*request))
AF_FORWARD(GrpcSandboxService, GetSession, v1::GetSessionRequest, v1::Session,
           *response = api_.GetSession(*request))
AF_FORWARD(GrpcSandboxService, ListSessions, v1::ListSessionsRequest, v1::ListSessionsResponse,
           *response = api_.ListSessions(*request))
AF_FORWARD(GrpcSandboxService, DestroySession, v1::DestroySessionRequest, v1::Empty,
           api_.DestroySession(*request))
AF_FORWARD(GrpcSandboxService, SessionExec, v1::SessionExecRequest, v1::ExecResult,
           WithCallContext(context, gate_, [&](CallContext& call) {
             *response = api_.SessionExec(*request, call);
           }))
AF_FORWARD(GrpcSandboxService, SessionExecStream, v1::SessionExecRequest,
           grpc::ServerWriter<v1::ExecOutput>,
           WithCallContext(context, gate_, [&](CallContext& call) {
             api_.SessionExecStream(*request, call, EmitTo(context, response, watchdog_));
           }))
AF_FORWARD(GrpcSandboxService, ListChanges, v1::ListChangesRequest, v1::ListChangesResponse,
           *response = api_.ListChanges(*request))
AF_FORWARD(GrpcSandboxService, DiffChanges, v1::DiffChangesRequest, v1::DiffChangesResponse,
           *response = api_.DiffChanges(*request))
AF_FORWARD(GrpcSandboxService, CommitChanges, v1::CommitChangesRequest, v1::CommitChangesResponse,
           *response = api_.CommitChanges(*request))
AF_FORWARD(GrpcSandboxService, DiscardChanges, v1::DiscardChangesRequest, v1::Empty,
           api_.DiscardChanges(*request))
AF_FORWARD(GrpcSandboxService, ReadSandboxFile, v1::ReadSandboxFileRequest,
           v1::ReadSandboxFileResponse, *response = api_.ReadSandboxFile(*request))
AF_FORWARD(GrpcSandboxService, WriteSandboxFile, v1::WriteSandboxFileRequest, v1::SandboxFileInfo,
           *response = api_.WriteSandboxFile(*request))
AF_FORWARD(GrpcSandboxService, ListSandboxFiles, v1::ListSandboxFilesRequest,
           v1::ListSandboxFilesResponse, *response = api_.ListSandboxFiles(*request))
AF_FORWARD(GrpcSandboxService, GetAuditEvents, v1::GetAuditEventsRequest,
           grpc::ServerWriter<v1::AuditEvent>,
           WithCallContext(context, gate_, [&](CallContext& call) {
             const Emit<v1::AuditEvent> emit = EmitTo(context, response, watchdog_);
             // An empty line is the follow mode's caught-up marker, not an event.
             api_.GetAuditEvents(*request, call, [&emit](const v1::AuditEvent& event) {
               return event.line().empty() || emit(event);
             });
           }))
AF_FORWARD(GrpcSandboxService, GetAuditSummary, v1::GetAuditSummaryRequest, v1::AuditSummary,
           *response = api_.GetAuditSummary(*request))

// ---- CodebaseService ----

AF_FORWARD(GrpcCodebaseService, CreateCodebase, v1::CreateCodebaseRequest, v1::Codebase,
           *response = api_.CreateCodebase(*request))
AF_FORWARD(GrpcCodebaseService, GetCodebase, v1::GetCodebaseRequest, v1::Codebase,
           *response = api_.GetCodebase(*request))
AF_FORWARD(GrpcCodebaseService, ListCodebases, v1::ListCodebasesRequest, v1::ListCodebasesResponse,
           *response = api_.ListCodebases(*request))
AF_FORWARD(GrpcCodebaseService, DeleteCodebase, v1::DeleteCodebaseRequest, v1::Empty,
           api_.DeleteCodebase(*request))
AF_FORWARD(GrpcCodebaseService, DownloadFile, v1::DownloadFileRequest,
           grpc::ServerWriter<v1::FileChunk>,
           api_.DownloadFile(*request, EmitWhileAdmitted(context, gate_, response, watchdog_)))
AF_FORWARD(GrpcCodebaseService, ListFiles, v1::ListFilesRequest, v1::ListFilesResponse,
           *response = api_.ListFiles(*request))
AF_FORWARD(GrpcCodebaseService, ImportDirectory, v1::ImportDirectoryRequest, v1::Codebase,
           *response = api_.ImportDirectory(*request))

#undef AF_FORWARD

grpc::Status GrpcCodebaseService::UploadFiles(grpc::ServerContext* context,
                                              grpc::ServerReader<v1::UploadChunk>* reader,
                                              v1::UploadResult* response) {
  return AdmitAndAnswer(context, gate_, share_, "UploadFiles", response,
                        [&] { *response = api_.UploadFiles(NextFrom(context, gate_, reader)); });
}

grpc::Status GrpcCodebaseService::UploadArchive(grpc::ServerContext* context,
                                                grpc::ServerReader<v1::ArchiveChunk>* reader,
                                                v1::UploadArchiveResult* response) {
  return AdmitAndAnswer(context, gate_, share_, "UploadArchive", response,
                        [&] { *response = api_.UploadArchive(NextFrom(context, gate_, reader)); });
}

// ---- server ----

// Threads every call shares (each call holds one while it runs; what one tenant's calls
// may hold of them: principal_share.h), and how long a connection may stay open without
// a call.
constexpr int kMaxGrpcThreads = 1024;
constexpr int kGrpcIdleConnectionMs = 5 * 60 * 1000;

StartedGrpcServer StartGrpcServer(const std::string& address,
                                  const std::vector<grpc::Service*>& services,
                                  const TlsFiles& tls) {
  const std::string uri = grpc_listen_uri(parse_listen_address(address));
  grpc::ServerBuilder builder;
  StartedGrpcServer started;
  builder.AddListeningPort(uri, GrpcServerCredentials(tls), &started.port);
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  // gRPC defaults to SO_REUSEPORT: a second server on the same port would start and
  // silently take a share of the calls instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A call holds a thread of the synchronous server for as long as it runs: one caller's
  // 1,500 idle UploadFiles streams held 1,500 threads, and about 30,000 would have used
  // up the host's pid_max. Past the cap, new calls are refused (RESOURCE_EXHAUSTED)
  // while the server and the host keep working.
  grpc::ResourceQuota quota("agentfense-grpc");
  quota.SetMaxThreads(kMaxGrpcThreads);
  builder.SetResourceQuota(quota);
  // A connection with no call open for this long is closed: each idle one held a file
  // descriptor, without bound.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, kGrpcIdleConnectionMs);
  for (grpc::Service* service : services) builder.RegisterService(service);
  started.server = builder.BuildAndStart();
  if (!started.server || started.port == 0) {
    if (started.server) started.server->Shutdown();
    throw UserError("cannot listen for gRPC on '" + address +
                    "' (address in use or not local to this host)");
  }
  return started;
}

GrpcTransport::GrpcTransport(CodebaseApi& codebases, SandboxApi& sandboxes, CallGate* gate)
    : share_(kMaxGrpcThreads, "gRPC calls", "the server's gRPC threads"),
      codebase_service_(codebases, gate, &share_),
      sandbox_service_(sandboxes, gate, &share_) {}

int GrpcTransport::Start(const std::string& address, const TlsFiles& tls) {
  auto started =
      StartGrpcServer(address, {&codebase_service_.Admitted(), &sandbox_service_.Admitted()}, tls);
  server_ = std::move(started.server);
  return started.port;
}

void GrpcTransport::Stop(std::chrono::milliseconds grace) {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

}  // namespace agentfense::server
