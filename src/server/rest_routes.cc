#include "server/rest_routes.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "server/call_context.h"
#include "server/error_status.h"
#include "server/exec_result_json.h"
#include "server/proto_json.h"
#include "server/rest_disconnect_watch.h"
#include "server/rest_streams.h"

namespace agentfense::server {

namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kOctets = "application/octet-stream";
constexpr const char* kNdjson = "application/x-ndjson";

// Query parameters, then path parameters, onto `message` (the body is already merged).
void ApplyUrlParams(const RestCall& call, google::protobuf::Message& message) {
  SetFieldsFromQuery(message, call.http.params);
  for (const auto& [name, value] : call.path_params) SetFieldFromText(message, name, value);
}

// Path parameters naming a file are relative to the root in the URL; the Api takes
// absolute paths.
std::string FilePathParam(const RestCall& call, const std::string& name) {
  return "/" + call.param(name);
}

// A unary call taking a JSON body (may be empty) and returning JSON. What the answer
// holds of a memory budget (a diff, a listing: SandboxService::hold_answer) stays held
// until the body was sent.
template <typename Request, typename Call>
RestHandler Json(Call call) {
  return [call](RestCall& rest, httplib::Response& response) {
    Request request;
    MergeJsonIntoMessage(ReadWholeBody(rest.body), request);
    ApplyUrlParams(rest, request);
    if constexpr (std::is_void_v<decltype(call(request))>) {
      call(request);
      response.set_content("{}", kJson);
    } else {
      KeptUntilSent held;
      std::string json = MessageToJson(call(request));
      SendHeld(response, std::move(json), kJson, held.take());
    }
  };
}

// The result as a chunked JSON body rendered as it is sent (exec_result_json.h), with
// `hold` (its output budget grant) kept until then.
void SendExecResult(httplib::Response& response, v1::ExecResult result,
                    std::shared_ptr<void> hold) {
  auto body = std::make_shared<ExecResultJson>(std::move(result));
  response.set_chunked_content_provider(
      kJson, [body, hold = std::move(hold)](std::size_t, httplib::DataSink& sink) {
        std::string piece;
        if (!body->next(piece)) {
          sink.done();
          return true;
        }
        return sink.write(piece.data(), piece.size());
      });
}

// A unary exec: like Json, with the command killed when the client disconnects.
template <typename Request, typename Call>
RestHandler ExecJson(Call call) {
  return [call](RestCall& rest, httplib::Response& response) {
    Request request;
    MergeJsonIntoMessage(ReadWholeBody(rest.body), request);
    ApplyUrlParams(rest, request);
    CallContext context;
    const RestDisconnectWatch watch(ConnectionOf(rest.http), context, rest.shutdown_fd);
    std::optional<v1::ExecResult> result;
    RunWhileAdmitted(rest.still_admitted, context, [&] { result.emplace(call(request, context)); });
    SendExecResult(response, std::move(*result), context.take_until_sent());
  };
}

// The last line of an NDJSON stream that failed after it began: {"error": {...}}, the
// JSON error body without the command's output (which the stream already carried).
std::string NdjsonErrorLine(std::exception_ptr error, const std::string& where) {
  const ErrorInfo info = DescribeError(error, where);
  return "{\"error\":" + ErrorJson(info.code, info.message, info.reason) + "}\n";
}

// A server-streaming exec as NDJSON. The disconnect watch lives as long as the command
// (on the stream's worker), not only as long as the handler: once output began the
// handler has returned and httplib is waiting for the next piece.
template <typename Request, typename Call>
RestHandler ExecNdjson(Call call) {
  return [call](RestCall& rest, httplib::Response& response) {
    Request request;
    MergeJsonIntoMessage(ReadWholeBody(rest.body), request);
    ApplyUrlParams(rest, request);
    StreamResponse<v1::ExecOutput>(
        response, kNdjson,
        [call, request, connection = ConnectionOf(rest.http), still_admitted = rest.still_admitted,
         shutdown_fd = rest.shutdown_fd](const Emit<v1::ExecOutput>& emit) {
          CallContext context;
          const RestDisconnectWatch watch(connection, context, shutdown_fd);
          RunWhileAdmitted(still_admitted, context, [&] { call(request, context, emit); });
        },
        [](const v1::ExecOutput& output) { return MessageToJson(output) + "\n"; },
        [where = rest.http.path](std::exception_ptr error) -> std::optional<std::string> {
          return NdjsonErrorLine(error, where);
        });
  };
}

// The audit trail as NDJSON, each line exactly as in the trail. Like ExecNdjson, the
// disconnect and credential watches live on the stream's worker, so follow mode ends
// when the client goes or its key is revoked.
RestHandler AuditNdjson(SandboxApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::GetAuditEventsRequest request;
    ApplyUrlParams(rest, request);
    StreamResponse<v1::AuditEvent>(
        response, kNdjson,
        [&api, request, connection = ConnectionOf(rest.http), still_admitted = rest.still_admitted,
         shutdown_fd = rest.shutdown_fd](const Emit<v1::AuditEvent>& emit) {
          CallContext context;
          const RestDisconnectWatch watch(connection, context, shutdown_fd);
          RunWhileAdmitted(still_admitted, context,
                           [&] { api.GetAuditEvents(request, context, emit); });
        },
        // The caught-up marker (empty line) renders as nothing: it only starts the response.
        [](const v1::AuditEvent& event) {
          return event.line().empty() ? std::string() : event.line() + "\n";
        },
        [where = rest.http.path](std::exception_ptr error) -> std::optional<std::string> {
          return NdjsonErrorLine(error, where);
        });
  };
}

// The summary object itself, not wrapped in the AuditSummary message.
RestHandler AuditSummaryJson(SandboxApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::GetAuditSummaryRequest request;
    ApplyUrlParams(rest, request);
    KeptUntilSent held;  // the summary's charge (SandboxService::hold_answer)
    v1::AuditSummary summary = api.GetAuditSummary(request);
    SendHeld(response, std::move(*summary.mutable_json()), kJson, held.take());
  };
}

// Content-Length, when the client sent one, lets the Api reject a truncated upload.
int64_t DeclaredBodySize(const httplib::Request& http) {
  if (!http.has_header("Content-Length")) return 0;
  return static_cast<int64_t>(http.get_header_value<uint64_t>("Content-Length"));
}

RestHandler UploadFile(CodebaseApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::UploadChunk::Metadata metadata;
    metadata.set_total_size(DeclaredBodySize(rest.http));
    SetFieldsFromQuery(metadata, rest.http.params);
    metadata.set_codebase_id(rest.param("codebase_id"));
    metadata.set_file_path(FilePathParam(rest, "file_path"));
    const auto result =
        PipeBodyInto<v1::UploadResult>(rest.body, [&](const Next<std::string>& next_data) {
          bool metadata_sent = false;
          MessageCredentialCheck credentials(rest.still_admitted);
          return api.UploadFiles([&](v1::UploadChunk& chunk) {
            chunk.Clear();
            if (!metadata_sent) {
              *chunk.mutable_metadata() = metadata;
              metadata_sent = true;
              return true;
            }
            if (!next_data(*chunk.mutable_data())) {
              credentials.final_check();  // before the upload is kept
              return false;
            }
            credentials.check();
            return true;
          });
        });
    response.set_content(MessageToJson(result), kJson);
  };
}

RestHandler UploadArchive(CodebaseApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::ArchiveChunk::Metadata metadata;
    ApplyUrlParams(rest, metadata);  // ?path= and {codebase_id}
    const auto result =
        PipeBodyInto<v1::UploadArchiveResult>(rest.body, [&](const Next<std::string>& next_data) {
          bool metadata_sent = false;
          MessageCredentialCheck credentials(rest.still_admitted);
          return api.UploadArchive([&](v1::ArchiveChunk& chunk) {
            chunk.Clear();
            if (!metadata_sent) {
              *chunk.mutable_metadata() = metadata;
              metadata_sent = true;
              return true;
            }
            if (!next_data(*chunk.mutable_data())) {
              credentials.final_check();  // before the upload is kept
              return false;
            }
            credentials.check();
            return true;
          });
        });
    response.set_content(MessageToJson(result), kJson);
  };
}

RestHandler DownloadFile(CodebaseApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::DownloadFileRequest request;
    request.set_codebase_id(rest.param("codebase_id"));
    request.set_file_path(FilePathParam(rest, "file_path"));
    StreamResponse<v1::FileChunk>(
        response, kOctets,
        [&api, request, still_admitted = rest.still_admitted](const Emit<v1::FileChunk>& emit) {
          // No further chunk once the caller's key is revoked (the response is cut).
          MessageCredentialCheck credentials(still_admitted);
          api.DownloadFile(request, [&](const v1::FileChunk& chunk) {
            credentials.check();
            return emit(chunk);
          });
        },
        [](const v1::FileChunk& chunk) { return chunk.data(); },
        [](std::exception_ptr) { return std::nullopt; });
  };
}

RestHandler ReadSandboxFile(SandboxApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::ReadSandboxFileRequest request;
    request.set_sandbox_id(rest.param("sandbox_id"));
    request.set_path(FilePathParam(rest, "path"));
    KeptUntilSent read_grant;  // the read budget's, held until the body is sent
    auto result = api.ReadSandboxFile(request);
    SendHeld(response, std::move(*result.mutable_content()), kOctets, read_grant.take());
  };
}

RestHandler WriteSandboxFile(SandboxApi& api) {
  return [&api](RestCall& rest, httplib::Response& response) {
    v1::WriteSandboxFileRequest request;
    request.set_sandbox_id(rest.param("sandbox_id"));
    request.set_path(FilePathParam(rest, "path"));
    request.set_content(ReadWholeBody(rest.body));
    response.set_content(MessageToJson(api.WriteSandboxFile(request)), kJson);
  };
}

}  // namespace

void AddRestRoutes(RestRouter& router, CodebaseApi& cb, SandboxApi& sb) {
  // ---- codebases ----
  router.Add("POST", "/v1/codebases",
             Json<v1::CreateCodebaseRequest>([&cb](auto& r) { return cb.CreateCodebase(r); }));
  router.Add("GET", "/v1/codebases",
             Json<v1::ListCodebasesRequest>([&cb](auto& r) { return cb.ListCodebases(r); }));
  router.Add("POST", "/v1/codebases:import",
             Json<v1::ImportDirectoryRequest>([&cb](auto& r) { return cb.ImportDirectory(r); }));
  router.Add("GET", "/v1/codebases/{codebase_id}",
             Json<v1::GetCodebaseRequest>([&cb](auto& r) { return cb.GetCodebase(r); }));
  router.Add("DELETE", "/v1/codebases/{codebase_id}",
             Json<v1::DeleteCodebaseRequest>([&cb](auto& r) { cb.DeleteCodebase(r); }));
  router.Add("GET", "/v1/codebases/{codebase_id}/files",
             Json<v1::ListFilesRequest>([&cb](auto& r) { return cb.ListFiles(r); }));
  router.Add("PUT", "/v1/codebases/{codebase_id}/content/{file_path=**}", UploadFile(cb));
  router.Add("GET", "/v1/codebases/{codebase_id}/content/{file_path=**}", DownloadFile(cb));
  router.Add("POST", "/v1/codebases/{codebase_id}/archive", UploadArchive(cb));

  // ---- sandboxes ----
  router.Add("POST", "/v1/sandboxes",
             Json<v1::CreateSandboxRequest>([&sb](auto& r) { return sb.CreateSandbox(r); }));
  router.Add("GET", "/v1/sandboxes",
             Json<v1::ListSandboxesRequest>([&sb](auto& r) { return sb.ListSandboxes(r); }));
  router.Add("GET", "/v1/sandboxes/{sandbox_id}",
             Json<v1::GetSandboxRequest>([&sb](auto& r) { return sb.GetSandbox(r); }));
  router.Add("DELETE", "/v1/sandboxes/{sandbox_id}",
             Json<v1::DestroySandboxRequest>([&sb](auto& r) { sb.DestroySandbox(r); }));
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/start",
             Json<v1::StartSandboxRequest>([&sb](auto& r) { return sb.StartSandbox(r); }));
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/stop",
             Json<v1::StopSandboxRequest>([&sb](auto& r) { return sb.StopSandbox(r); }));
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/exec",
             ExecJson<v1::ExecRequest>([&sb](auto& r, auto& call) { return sb.Exec(r, call); }));
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/exec:stream",
             ExecNdjson<v1::ExecRequest>(
                 [&sb](auto& r, auto& call, auto& emit) { sb.ExecStream(r, call, emit); }));

  // ---- sessions ----
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/sessions",
             Json<v1::CreateSessionRequest>([&sb](auto& r) { return sb.CreateSession(r); }));
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/sessions",
             Json<v1::ListSessionsRequest>([&sb](auto& r) { return sb.ListSessions(r); }));
  router.Add("GET", "/v1/sessions/{session_id}",
             Json<v1::GetSessionRequest>([&sb](auto& r) { return sb.GetSession(r); }));
  router.Add("DELETE", "/v1/sessions/{session_id}",
             Json<v1::DestroySessionRequest>([&sb](auto& r) { sb.DestroySession(r); }));
  router.Add("POST", "/v1/sessions/{session_id}/exec",
             ExecJson<v1::SessionExecRequest>(
                 [&sb](auto& r, auto& call) { return sb.SessionExec(r, call); }));
  router.Add("POST", "/v1/sessions/{session_id}/exec:stream",
             ExecNdjson<v1::SessionExecRequest>(
                 [&sb](auto& r, auto& call, auto& emit) { sb.SessionExecStream(r, call, emit); }));

  // ---- write layer ----
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/changes",
             Json<v1::ListChangesRequest>([&sb](auto& r) { return sb.ListChanges(r); }));
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/diff",
             Json<v1::DiffChangesRequest>([&sb](auto& r) { return sb.DiffChanges(r); }));
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/commit",
             Json<v1::CommitChangesRequest>([&sb](auto& r) { return sb.CommitChanges(r); }));
  router.Add("POST", "/v1/sandboxes/{sandbox_id}/discard",
             Json<v1::DiscardChangesRequest>([&sb](auto& r) { sb.DiscardChanges(r); }));

  // ---- files through the sandbox's rules ----
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/files",
             Json<v1::ListSandboxFilesRequest>([&sb](auto& r) { return sb.ListSandboxFiles(r); }));
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/content/{path=**}", ReadSandboxFile(sb));
  router.Add("PUT", "/v1/sandboxes/{sandbox_id}/content/{path=**}", WriteSandboxFile(sb));

  // ---- audit trail ----
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/audit", AuditNdjson(sb));
  router.Add("GET", "/v1/sandboxes/{sandbox_id}/audit/summary", AuditSummaryJson(sb));
}

}  // namespace agentfense::server
