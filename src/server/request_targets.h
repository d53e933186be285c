// What each request of the Api names, for scoping (scoped_api.h): the codebase, sandbox or
// session whose owner decides whether the caller may touch it. One overload per request
// type that names a resource; a request type without one cannot be forwarded by the
// scoped Api (it does not compile), so a new RPC cannot skip the check by accident.
#pragma once

#include <string>

#include "server/api.h"

namespace agentfense::server {

struct CodebaseTarget {
  const std::string& id;
};
struct SandboxTarget {
  const std::string& id;
};
struct SessionTarget {
  const std::string& id;
};

// ---- codebases ----
inline CodebaseTarget target_of(const v1::GetCodebaseRequest& r) {
  return {r.codebase_id()};
}
inline CodebaseTarget target_of(const v1::DeleteCodebaseRequest& r) {
  return {r.codebase_id()};
}
inline CodebaseTarget target_of(const v1::DownloadFileRequest& r) {
  return {r.codebase_id()};
}
inline CodebaseTarget target_of(const v1::ListFilesRequest& r) {
  return {r.codebase_id()};
}
inline CodebaseTarget target_of(const v1::UploadChunk::Metadata& r) {
  return {r.codebase_id()};
}
inline CodebaseTarget target_of(const v1::ArchiveChunk::Metadata& r) {
  return {r.codebase_id()};
}
inline CodebaseTarget target_of(const v1::CreateSandboxRequest& r) {
  return {r.codebase_id()};
}

// ---- sandboxes ----
inline SandboxTarget target_of(const v1::GetAuditEventsRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::GetAuditSummaryRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::GetSandboxRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::StartSandboxRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::StopSandboxRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::DestroySandboxRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::ExecRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::CreateSessionRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::ListSessionsRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::ListChangesRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::DiffChangesRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::CommitChangesRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::DiscardChangesRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::ReadSandboxFileRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::WriteSandboxFileRequest& r) {
  return {r.sandbox_id()};
}
inline SandboxTarget target_of(const v1::ListSandboxFilesRequest& r) {
  return {r.sandbox_id()};
}

// ---- sessions ----
inline SessionTarget target_of(const v1::GetSessionRequest& r) {
  return {r.session_id()};
}
inline SessionTarget target_of(const v1::DestroySessionRequest& r) {
  return {r.session_id()};
}
inline SessionTarget target_of(const v1::SessionExecRequest& r) {
  return {r.session_id()};
}

}  // namespace agentfense::server
