// A test double of the two Api interfaces for the transport tests: it records every
// request (serialized, by method name), returns canned messages, and lets a test make
// any call fail or script the streaming calls. The transports are all that is under
// test here; the real service has its own end-to-end tests.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/api.h"

namespace agentfense::server::testing {

// A one-shot flag one thread raises and another waits for (with a timeout, so a broken
// transport fails the test instead of hanging it).
class Signal {
 public:
  void Raise();
  bool WaitFor(std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable raised_cv_;
  bool raised_ = false;
};

class FakeApi : public CodebaseApi, public SandboxApi {
 public:
  // ---- test controls ----
  // When set, every call throws it (after recording its request).
  std::optional<ApiError> fail_with;
  std::function<void()> throw_plain;  // when set, called to throw a non-ApiError

  // Exec scripts (they see the CallContext the transport made); defaults answer at once.
  std::function<v1::ExecResult(const v1::ExecRequest&, CallContext&)> exec;
  // Streaming scripts; defaults emit a few canned messages.
  std::function<void(const v1::ExecRequest&, CallContext&, const Emit<v1::ExecOutput>&)>
      exec_stream;
  std::function<void(const v1::DownloadFileRequest&, const Emit<v1::FileChunk>&)> download;
  // Upload: chunks as received (metadata chunk included), and what `next` threw.
  std::vector<v1::UploadChunk> upload_chunks;
  std::vector<v1::ArchiveChunk> archive_chunks;
  std::optional<StatusCode> upload_next_threw;
  Signal* upload_saw_data = nullptr;  // raised when UploadFiles reads a data chunk
  // When set, UploadFiles fails right after reading the metadata.
  std::optional<ApiError> upload_fail_after_metadata;

  template <typename M>
  M Last(const std::string& method) {
    std::lock_guard lock(mutex_);
    M message;
    const auto it = requests_.find(method);
    if (it != requests_.end()) message.ParseFromString(it->second);
    return message;
  }
  int Calls(const std::string& method);

  // ---- CodebaseApi ----
  v1::Codebase CreateCodebase(const v1::CreateCodebaseRequest&) override;
  v1::Codebase GetCodebase(const v1::GetCodebaseRequest&) override;
  v1::ListCodebasesResponse ListCodebases(const v1::ListCodebasesRequest&) override;
  void DeleteCodebase(const v1::DeleteCodebaseRequest&) override;
  v1::UploadResult UploadFiles(const Next<v1::UploadChunk>& next) override;
  void DownloadFile(const v1::DownloadFileRequest&, const Emit<v1::FileChunk>& emit) override;
  v1::ListFilesResponse ListFiles(const v1::ListFilesRequest&) override;
  v1::UploadArchiveResult UploadArchive(const Next<v1::ArchiveChunk>& next) override;
  v1::Codebase ImportDirectory(const v1::ImportDirectoryRequest&) override;

  // ---- SandboxApi ----
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
  void Record(const std::string& method, const google::protobuf::Message& request);
  v1::Sandbox CannedSandbox(const std::string& id);

  std::mutex mutex_;
  std::map<std::string, std::string> requests_;
  std::map<std::string, int> calls_;
};

}  // namespace agentfense::server::testing
