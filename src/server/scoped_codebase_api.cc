#include "common/log.h"
#include "server/scoped_api.h"

namespace agentfense::server {
namespace {

// A client stream whose first message has been read already (to learn which codebase it
// writes to): hands that one out first, then the rest.
template <typename Chunk>
class Replay {
 public:
  explicit Replay(const Next<Chunk>& next) : next_(next), have_first_(next(first_)) {}
  const Chunk* first() const { return have_first_ ? &first_ : nullptr; }
  Next<Chunk> stream() {
    return [this](Chunk& chunk) {
      if (!replayed_) {
        replayed_ = true;
        if (!have_first_) return false;
        chunk = std::move(first_);
        return true;
      }
      return next_(chunk);
    };
  }

 private:
  const Next<Chunk>& next_;
  Chunk first_;
  bool have_first_;
  bool replayed_ = false;
};

}  // namespace

v1::Codebase ScopedCodebaseApi::CreateCodebase(const v1::CreateCodebaseRequest& request) {
  const Principal& caller = scope_.caller();
  v1::CreateCodebaseRequest owned = request;
  owned.set_owner_id(scope_.owner_for(request.owner_id()));
  const auto slot = scope_.create_slot(caller, TenantScope::Creating::kCodebase);
  v1::Codebase codebase = inner_.CreateCodebase(owned);
  scope_.ownership().charge_codebase(codebase.id(), caller.id);
  return codebase;
}

v1::Codebase ScopedCodebaseApi::ImportDirectory(const v1::ImportDirectoryRequest& request) {
  // It serves a directory of the server's own disk: never a tenant's to choose.
  scope_.require_admin("ImportDirectory");
  const Principal& caller = scope_.caller();
  v1::ImportDirectoryRequest owned = request;
  owned.set_owner_id(scope_.owner_for(request.owner_id()));
  const auto slot = scope_.create_slot(caller, TenantScope::Creating::kCodebase);
  v1::Codebase codebase = inner_.ImportDirectory(owned);
  scope_.ownership().charge_codebase(codebase.id(), caller.id);
  return codebase;
}

v1::ListCodebasesResponse ScopedCodebaseApi::ListCodebases(
    const v1::ListCodebasesRequest& request) {
  const Principal& caller = scope_.caller();
  if (caller.is_admin()) return inner_.ListCodebases(request);
  if (request.owner_id().empty())
    return store_.list_for_owners(caller.owners, request.page_size(), request.page_token());
  (void)scope_.owner_for(request.owner_id());  // PERMISSION_DENIED for another owner
  return inner_.ListCodebases(request);
}

v1::Codebase ScopedCodebaseApi::GetCodebase(const v1::GetCodebaseRequest& request) {
  return forwarded(scope_, inner_, &CodebaseApi::GetCodebase, request);
}

void ScopedCodebaseApi::DeleteCodebase(const v1::DeleteCodebaseRequest& request) {
  forwarded(scope_, inner_, &CodebaseApi::DeleteCodebase, request);
  scope_.ownership().forget(request.codebase_id());
}

void ScopedCodebaseApi::DownloadFile(const v1::DownloadFileRequest& request,
                                     const Emit<v1::FileChunk>& emit) {
  forwarded(scope_, inner_, &CodebaseApi::DownloadFile, request, emit);
}

v1::ListFilesResponse ScopedCodebaseApi::ListFiles(const v1::ListFilesRequest& request) {
  return forwarded(scope_, inner_, &CodebaseApi::ListFiles, request);
}

v1::UploadResult ScopedCodebaseApi::UploadFiles(const Next<v1::UploadChunk>& next) {
  Replay<v1::UploadChunk> replay(next);
  if (const v1::UploadChunk* first = replay.first(); first && first->has_metadata())
    scope_.check(target_of(first->metadata()));
  return inner_.UploadFiles(replay.stream());
}

v1::UploadArchiveResult ScopedCodebaseApi::UploadArchive(const Next<v1::ArchiveChunk>& next) {
  Replay<v1::ArchiveChunk> replay(next);
  if (const v1::ArchiveChunk* first = replay.first(); first && first->has_metadata())
    scope_.check(target_of(first->metadata()));
  return inner_.UploadArchive(replay.stream());
}

}  // namespace agentfense::server
