#include "fake_api.h"

namespace agentfense::server::testing {

void Signal::Raise() {
  std::lock_guard lock(mutex_);
  raised_ = true;
  raised_cv_.notify_all();
}

bool Signal::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return raised_cv_.wait_for(lock, timeout, [&] { return raised_; });
}

int FakeApi::Calls(const std::string& method) {
  std::lock_guard lock(mutex_);
  return calls_[method];
}

void FakeApi::Record(const std::string& method, const google::protobuf::Message& request) {
  {
    std::lock_guard lock(mutex_);
    requests_[method] = request.SerializeAsString();
    ++calls_[method];
  }
  if (throw_plain) throw_plain();
  if (fail_with) throw *fail_with;
}

v1::Sandbox FakeApi::CannedSandbox(const std::string& id) {
  v1::Sandbox sandbox;
  sandbox.set_id(id);
  sandbox.set_codebase_id("cb_1");
  sandbox.set_status(v1::SANDBOX_STATUS_RUNNING);
  auto* rule = sandbox.add_permissions();
  rule->set_pattern("/docs/**");
  rule->set_permission(v1::PERMISSION_WRITE);
  return sandbox;
}

v1::Codebase FakeApi::CreateCodebase(const v1::CreateCodebaseRequest& r) {
  Record("CreateCodebase", r);
  v1::Codebase codebase;
  codebase.set_id("cb_1");
  codebase.set_name(r.name());
  codebase.set_owner_id(r.owner_id());
  return codebase;
}

v1::Codebase FakeApi::GetCodebase(const v1::GetCodebaseRequest& r) {
  Record("GetCodebase", r);
  v1::Codebase codebase;
  codebase.set_id(r.codebase_id());
  codebase.set_file_count(3);
  return codebase;
}

v1::ListCodebasesResponse FakeApi::ListCodebases(const v1::ListCodebasesRequest& r) {
  Record("ListCodebases", r);
  v1::ListCodebasesResponse response;
  response.add_codebases()->set_id("cb_1");
  response.set_next_page_token("next");
  return response;
}

void FakeApi::DeleteCodebase(const v1::DeleteCodebaseRequest& r) {
  Record("DeleteCodebase", r);
}

v1::UploadResult FakeApi::UploadFiles(const Next<v1::UploadChunk>& next) {
  v1::UploadResult result;
  v1::UploadChunk chunk;
  try {
    while (next(chunk)) {
      upload_chunks.push_back(chunk);
      if (chunk.has_metadata()) {
        Record("UploadFiles", chunk);
        result.set_codebase_id(chunk.metadata().codebase_id());
        result.set_file_path(chunk.metadata().file_path());
        if (upload_fail_after_metadata) throw *upload_fail_after_metadata;
      }
      result.set_size(result.size() + static_cast<int64_t>(chunk.data().size()));
      if (!chunk.has_metadata() && upload_saw_data) upload_saw_data->Raise();
    }
  } catch (const ApiError& e) {
    if (!upload_fail_after_metadata) upload_next_threw = e.code();
    throw;
  }
  result.set_checksum("sha256:fake");
  return result;
}

void FakeApi::DownloadFile(const v1::DownloadFileRequest& r, const Emit<v1::FileChunk>& emit) {
  Record("DownloadFile", r);
  if (download) return download(r, emit);
  v1::FileChunk chunk;
  chunk.set_data("hello ");
  emit(chunk);
  chunk.set_data("world");
  emit(chunk);
}

v1::ListFilesResponse FakeApi::ListFiles(const v1::ListFilesRequest& r) {
  Record("ListFiles", r);
  v1::ListFilesResponse response;
  auto* file = response.add_files();
  file->set_path("/a.txt");
  file->set_name("a.txt");
  return response;
}

v1::UploadArchiveResult FakeApi::UploadArchive(const Next<v1::ArchiveChunk>& next) {
  v1::UploadArchiveResult result;
  v1::ArchiveChunk chunk;
  while (next(chunk)) {
    archive_chunks.push_back(chunk);
    if (chunk.has_metadata()) {
      Record("UploadArchive", chunk);
      result.set_codebase_id(chunk.metadata().codebase_id());
    }
    result.set_bytes(result.bytes() + static_cast<int64_t>(chunk.data().size()));
  }
  result.set_files(1);
  return result;
}

v1::Codebase FakeApi::ImportDirectory(const v1::ImportDirectoryRequest& r) {
  Record("ImportDirectory", r);
  v1::Codebase codebase;
  codebase.set_id("cb_imported");
  codebase.set_imported_from(r.path());
  return codebase;
}

v1::Sandbox FakeApi::CreateSandbox(const v1::CreateSandboxRequest& r) {
  Record("CreateSandbox", r);
  return CannedSandbox("sb_1");
}
v1::Sandbox FakeApi::GetSandbox(const v1::GetSandboxRequest& r) {
  Record("GetSandbox", r);
  return CannedSandbox(r.sandbox_id());
}
v1::ListSandboxesResponse FakeApi::ListSandboxes(const v1::ListSandboxesRequest& r) {
  Record("ListSandboxes", r);
  v1::ListSandboxesResponse response;
  *response.add_sandboxes() = CannedSandbox("sb_1");
  return response;
}
v1::Sandbox FakeApi::StartSandbox(const v1::StartSandboxRequest& r) {
  Record("StartSandbox", r);
  return CannedSandbox(r.sandbox_id());
}
v1::Sandbox FakeApi::StopSandbox(const v1::StopSandboxRequest& r) {
  Record("StopSandbox", r);
  auto sandbox = CannedSandbox(r.sandbox_id());
  sandbox.set_status(v1::SANDBOX_STATUS_STOPPED);
  return sandbox;
}
void FakeApi::DestroySandbox(const v1::DestroySandboxRequest& r) {
  Record("DestroySandbox", r);
}

v1::ExecResult FakeApi::Exec(const v1::ExecRequest& r, CallContext& call) {
  Record("Exec", r);
  if (exec) return exec(r, call);
  v1::ExecResult result;
  result.set_stdout("out:" + r.command());
  return result;  // exit_code 0: must still appear in REST JSON
}

void FakeApi::ExecStream(const v1::ExecRequest& r, CallContext& call,
                         const Emit<v1::ExecOutput>& emit) {
  Record("ExecStream", r);
  if (exec_stream) return exec_stream(r, call, emit);
  v1::ExecOutput output;
  output.set_type(v1::ExecOutput::OUTPUT_TYPE_STDOUT);
  output.set_data("line\n");
  emit(output);
  output.Clear();
  output.set_type(v1::ExecOutput::OUTPUT_TYPE_EXIT);
  output.set_exit_code(7);
  emit(output);
}

v1::Session FakeApi::CreateSession(const v1::CreateSessionRequest& r) {
  Record("CreateSession", r);
  v1::Session session;
  session.set_id("se_1");
  session.set_sandbox_id(r.sandbox_id());
  session.set_status(v1::SESSION_STATUS_ACTIVE);
  return session;
}
v1::Session FakeApi::GetSession(const v1::GetSessionRequest& r) {
  Record("GetSession", r);
  v1::Session session;
  session.set_id(r.session_id());
  return session;
}
v1::ListSessionsResponse FakeApi::ListSessions(const v1::ListSessionsRequest& r) {
  Record("ListSessions", r);
  return {};
}
void FakeApi::DestroySession(const v1::DestroySessionRequest& r) {
  Record("DestroySession", r);
}
v1::ExecResult FakeApi::SessionExec(const v1::SessionExecRequest& r, CallContext&) {
  Record("SessionExec", r);
  v1::ExecResult result;
  result.set_exit_code(1);
  return result;
}
void FakeApi::SessionExecStream(const v1::SessionExecRequest& r, CallContext&,
                                const Emit<v1::ExecOutput>& emit) {
  Record("SessionExecStream", r);
  v1::ExecOutput output;
  output.set_type(v1::ExecOutput::OUTPUT_TYPE_EXIT);
  emit(output);
}

v1::ListChangesResponse FakeApi::ListChanges(const v1::ListChangesRequest& r) {
  Record("ListChanges", r);
  v1::ListChangesResponse response;
  auto* change = response.add_changes();
  change->set_path("/a");
  change->set_kind(v1::CHANGE_KIND_ADDED);
  return response;
}
v1::DiffChangesResponse FakeApi::DiffChanges(const v1::DiffChangesRequest& r) {
  Record("DiffChanges", r);
  v1::DiffChangesResponse response;
  response.set_diff("--- a/x\n+++ b/x\n");
  return response;
}
v1::CommitChangesResponse FakeApi::CommitChanges(const v1::CommitChangesRequest& r) {
  Record("CommitChanges", r);
  v1::CommitChangesResponse response;
  for (const auto& path : r.paths()) response.add_applied(path);
  return response;
}
void FakeApi::DiscardChanges(const v1::DiscardChangesRequest& r) {
  Record("DiscardChanges", r);
}

v1::ReadSandboxFileResponse FakeApi::ReadSandboxFile(const v1::ReadSandboxFileRequest& r) {
  Record("ReadSandboxFile", r);
  v1::ReadSandboxFileResponse response;
  response.set_content(std::string("bin\0ary", 7));
  return response;
}
v1::SandboxFileInfo FakeApi::WriteSandboxFile(const v1::WriteSandboxFileRequest& r) {
  Record("WriteSandboxFile", r);
  v1::SandboxFileInfo info;
  info.set_path(r.path());
  info.set_size(static_cast<int64_t>(r.content().size()));
  info.set_permission(v1::PERMISSION_WRITE);
  return info;
}
v1::ListSandboxFilesResponse FakeApi::ListSandboxFiles(const v1::ListSandboxFilesRequest& r) {
  Record("ListSandboxFiles", r);
  return {};
}
void FakeApi::GetAuditEvents(const v1::GetAuditEventsRequest& r, CallContext&,
                             const Emit<v1::AuditEvent>&) {
  Record("GetAuditEvents", r);
}
v1::AuditSummary FakeApi::GetAuditSummary(const v1::GetAuditSummaryRequest& r) {
  Record("GetAuditSummary", r);
  return {};
}

}  // namespace agentfense::server::testing
