// The Api as one caller may use it: every method of CodebaseApi and SandboxApi checks the
// request against the caller's principal (tenant_scope.h) and then forwards it to the
// service, so the transports serve these instead of the services themselves.
//
// Every method goes through one of three paths:
//   - forwarded(): the resource the request names (request_targets.h target_of) must be
//     the caller's, else NOT_FOUND exactly as if it did not exist;
//   - listings, which an admin gets whole and a user filtered to its owners;
//   - creations, which take the owner from the caller, check its quotas, and record the
//     principal the new resource is charged to.
// With authentication off the caller is the local admin (principal.h): everything is
// forwarded unchanged.
#pragma once

#include <functional>
#include <optional>

#include "server/api.h"
#include "server/disk_quota.h"
#include "server/tenant_scope.h"
#include "store/codebase_store.h"
#include "store/sandbox_records.h"

namespace agentfense::server {

class ScopedCodebaseApi final : public CodebaseApi {
 public:
  ScopedCodebaseApi(CodebaseApi& inner, TenantScope& scope, store::CodebaseStore& store)
      : inner_(inner), scope_(scope), store_(store) {}

  v1::Codebase CreateCodebase(const v1::CreateCodebaseRequest&) override;
  v1::Codebase GetCodebase(const v1::GetCodebaseRequest&) override;
  v1::ListCodebasesResponse ListCodebases(const v1::ListCodebasesRequest&) override;
  void DeleteCodebase(const v1::DeleteCodebaseRequest&) override;
  v1::UploadResult UploadFiles(const Next<v1::UploadChunk>& next) override;
  void DownloadFile(const v1::DownloadFileRequest&, const Emit<v1::FileChunk>& emit) override;
  v1::ListFilesResponse ListFiles(const v1::ListFilesRequest&) override;
  v1::UploadArchiveResult UploadArchive(const Next<v1::ArchiveChunk>& next) override;
  v1::Codebase ImportDirectory(const v1::ImportDirectoryRequest&) override;

 private:
  CodebaseApi& inner_;
  TenantScope& scope_;
  store::CodebaseStore& store_;
};

class ScopedSandboxApi final : public SandboxApi {
 public:
  // The owner recorded with a sandbox's audit trail (audit_trails.h), for trails of
  // sandboxes that are gone; nullopt when unknown.
  using TrailOwner = std::function<std::optional<std::string>(const std::string& sandbox_id)>;

  // `disk` is the service's own (SandboxServiceOptions::disk): the write-layer quota a
  // new sandbox will get, charged to quotas.sandbox_disk_bytes before it is created.
  // `hold_answer`: for the pages of ListSandboxes it answers itself (a tenant's).
  ScopedSandboxApi(SandboxApi& inner, TenantScope& scope, store::SandboxRecords& records,
                   DiskQuotaPolicy disk, TrailOwner trail_owner = {}, HoldAnswer hold_answer = {})
      : inner_(inner),
        scope_(scope),
        records_(records),
        disk_(disk),
        trail_owner_(std::move(trail_owner)),
        hold_answer_(std::move(hold_answer)) {}

  v1::Sandbox CreateSandbox(const v1::CreateSandboxRequest&) override;
  v1::Sandbox GetSandbox(const v1::GetSandboxRequest&) override;
  v1::ListSandboxesResponse ListSandboxes(const v1::ListSandboxesRequest&) override;
  v1::Sandbox StartSandbox(const v1::StartSandboxRequest&) override;
  v1::Sandbox StopSandbox(const v1::StopSandboxRequest&) override;
  void DestroySandbox(const v1::DestroySandboxRequest&) override;

  v1::ExecResult Exec(const v1::ExecRequest&, CallContext& call) override;
  void ExecStream(const v1::ExecRequest&, CallContext& call,
                  const Emit<v1::ExecOutput>& emit) override;

  v1::Session CreateSession(const v1::CreateSessionRequest&) override;
  v1::Session GetSession(const v1::GetSessionRequest&) override;
  v1::ListSessionsResponse ListSessions(const v1::ListSessionsRequest&) override;
  void DestroySession(const v1::DestroySessionRequest&) override;
  v1::ExecResult SessionExec(const v1::SessionExecRequest&, CallContext& call) override;
  void SessionExecStream(const v1::SessionExecRequest&, CallContext& call,
                         const Emit<v1::ExecOutput>& emit) override;

  v1::ListChangesResponse ListChanges(const v1::ListChangesRequest&) override;
  v1::DiffChangesResponse DiffChanges(const v1::DiffChangesRequest&) override;
  v1::CommitChangesResponse CommitChanges(const v1::CommitChangesRequest&) override;
  void DiscardChanges(const v1::DiscardChangesRequest&) override;

  v1::ReadSandboxFileResponse ReadSandboxFile(const v1::ReadSandboxFileRequest&) override;
  v1::SandboxFileInfo WriteSandboxFile(const v1::WriteSandboxFileRequest&) override;
  v1::ListSandboxFilesResponse ListSandboxFiles(const v1::ListSandboxFilesRequest&) override;

  void GetAuditEvents(const v1::GetAuditEventsRequest&, CallContext& call,
                      const Emit<v1::AuditEvent>& emit) override;
  v1::AuditSummary GetAuditSummary(const v1::GetAuditSummaryRequest&) override;

 private:
  SandboxApi& inner_;
  TenantScope& scope_;
  // A live sandbox is checked as usual; a destroyed one by the owner kept with its trail.
  void check_trail(const std::string& sandbox_id);

  store::SandboxRecords& records_;
  DiskQuotaPolicy disk_;
  TrailOwner trail_owner_;
  HoldAnswer hold_answer_;
};

// The first path: `method` of `inner` with `request` (and the call's further arguments)
// once the resource the request names is found to be the caller's.
template <typename Api, typename Method, typename Request, typename... More>
decltype(auto) forwarded(TenantScope& scope, Api& inner, Method method, const Request& request,
                         More&&... more) {
  scope.check(target_of(request));
  return (inner.*method)(request, std::forward<More>(more)...);
}

}  // namespace agentfense::server
