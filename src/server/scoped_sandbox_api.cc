#include "server/scoped_api.h"

namespace agentfense::server {

v1::Sandbox ScopedSandboxApi::CreateSandbox(const v1::CreateSandboxRequest& request) {
  const Principal& caller = scope_.caller();
  scope_.check(target_of(request));  // the codebase: NOT_FOUND before any quota is told
  // The quota the service will record (INVALID_ARGUMENT for one it would refuse), counted
  // until the new sandbox is charged: two creates at once cannot both fit in the room
  // left for one.
  const std::int64_t disk_bytes = with_disk_quota(request.resources(), disk_).disk_bytes();
  const auto slot = scope_.sandbox_disk_slot(caller, disk_bytes, disk_.max_bytes);
  v1::Sandbox sandbox = inner_.CreateSandbox(request);
  scope_.ownership().charge_sandbox(sandbox.id(), caller.id);
  return sandbox;
}

v1::ListSandboxesResponse ScopedSandboxApi::ListSandboxes(const v1::ListSandboxesRequest& request) {
  const Principal& caller = scope_.caller();
  if (caller.is_admin()) return inner_.ListSandboxes(request);
  // A codebase of another owner lists nothing, as a codebase that does not exist.
  v1::ListSandboxesResponse page = records_.list(request.codebase_id(), request.page_size(),
                                                 request.page_token(), &caller.owners);
  if (hold_answer_) hold_answer_(page, "ListSandboxes");
  return page;
}

v1::Sandbox ScopedSandboxApi::StartSandbox(const v1::StartSandboxRequest& request) {
  scope_.check(target_of(request));
  const auto sandbox = records_.get(request.sandbox_id());
  const auto slot = scope_.start_slot(request.sandbox_id(),
                                      !sandbox || sandbox->status() == v1::SANDBOX_STATUS_RUNNING);
  return inner_.StartSandbox(request);
}

v1::Session ScopedSandboxApi::CreateSession(const v1::CreateSessionRequest& request) {
  const Principal& caller = scope_.caller();
  scope_.check(target_of(request));
  const auto slot = scope_.create_slot(caller, TenantScope::Creating::kSession);
  v1::Session session = inner_.CreateSession(request);
  scope_.ownership().charge_session(session.id(), caller.id);
  return session;
}

v1::ExecResult ScopedSandboxApi::Exec(const v1::ExecRequest& request, CallContext& call) {
  scope_.check(target_of(request));
  const auto slot = scope_.exec_slot();
  return inner_.Exec(request, call);
}

void ScopedSandboxApi::ExecStream(const v1::ExecRequest& request, CallContext& call,
                                  const Emit<v1::ExecOutput>& emit) {
  scope_.check(target_of(request));
  const auto slot = scope_.exec_slot();
  inner_.ExecStream(request, call, emit);
}

v1::ExecResult ScopedSandboxApi::SessionExec(const v1::SessionExecRequest& request,
                                             CallContext& call) {
  scope_.check(target_of(request));
  const auto slot = scope_.exec_slot();
  return inner_.SessionExec(request, call);
}

void ScopedSandboxApi::SessionExecStream(const v1::SessionExecRequest& request, CallContext& call,
                                         const Emit<v1::ExecOutput>& emit) {
  scope_.check(target_of(request));
  const auto slot = scope_.exec_slot();
  inner_.SessionExecStream(request, call, emit);
}

// ---- forwarded as they are, once the resource they name is the caller's ----

v1::Sandbox ScopedSandboxApi::GetSandbox(const v1::GetSandboxRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::GetSandbox, request);
}

v1::Sandbox ScopedSandboxApi::StopSandbox(const v1::StopSandboxRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::StopSandbox, request);
}

void ScopedSandboxApi::DestroySandbox(const v1::DestroySandboxRequest& request) {
  forwarded(scope_, inner_, &SandboxApi::DestroySandbox, request);
  scope_.ownership().forget(request.sandbox_id());
}

v1::Session ScopedSandboxApi::GetSession(const v1::GetSessionRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::GetSession, request);
}

v1::ListSessionsResponse ScopedSandboxApi::ListSessions(const v1::ListSessionsRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::ListSessions, request);
}

void ScopedSandboxApi::DestroySession(const v1::DestroySessionRequest& request) {
  forwarded(scope_, inner_, &SandboxApi::DestroySession, request);
  scope_.ownership().forget(request.session_id());
}

v1::ListChangesResponse ScopedSandboxApi::ListChanges(const v1::ListChangesRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::ListChanges, request);
}

v1::DiffChangesResponse ScopedSandboxApi::DiffChanges(const v1::DiffChangesRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::DiffChanges, request);
}

v1::CommitChangesResponse ScopedSandboxApi::CommitChanges(const v1::CommitChangesRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::CommitChanges, request);
}

void ScopedSandboxApi::DiscardChanges(const v1::DiscardChangesRequest& request) {
  forwarded(scope_, inner_, &SandboxApi::DiscardChanges, request);
}

v1::ReadSandboxFileResponse ScopedSandboxApi::ReadSandboxFile(
    const v1::ReadSandboxFileRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::ReadSandboxFile, request);
}

v1::SandboxFileInfo ScopedSandboxApi::WriteSandboxFile(const v1::WriteSandboxFileRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::WriteSandboxFile, request);
}

v1::ListSandboxFilesResponse ScopedSandboxApi::ListSandboxFiles(
    const v1::ListSandboxFilesRequest& request) {
  return forwarded(scope_, inner_, &SandboxApi::ListSandboxFiles, request);
}

void ScopedSandboxApi::check_trail(const std::string& sandbox_id) {
  if (sandbox_id.empty() || records_.get(sandbox_id)) {
    scope_.check(SandboxTarget{sandbox_id});
    return;
  }
  scope_.check_sandbox_owner(trail_owner_ ? trail_owner_(sandbox_id) : std::nullopt, sandbox_id);
}

void ScopedSandboxApi::GetAuditEvents(const v1::GetAuditEventsRequest& request, CallContext& call,
                                      const Emit<v1::AuditEvent>& emit) {
  check_trail(request.sandbox_id());
  if (!request.follow()) return inner_.GetAuditEvents(request, call, emit);
  const auto slot = scope_.follow_slot();
  inner_.GetAuditEvents(request, call, emit);
}

v1::AuditSummary ScopedSandboxApi::GetAuditSummary(const v1::GetAuditSummaryRequest& request) {
  check_trail(request.sandbox_id());
  return inner_.GetAuditSummary(request);
}

}  // namespace agentfense::server
