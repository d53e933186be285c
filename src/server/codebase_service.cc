#include "server/codebase_service.h"

#include "common/log.h"
#include "server/request_limits.h"

namespace agentfense::server {
namespace {

// Pulls the data chunks that follow the metadata message of a client stream.
template <typename Chunk>
Next<std::string> data_after_metadata(const Next<Chunk>& next) {
  return [&next](std::string& data) {
    Chunk chunk;
    while (next(chunk)) {
      if (chunk.has_metadata())
        throw ApiError(StatusCode::INVALID_ARGUMENT,
                       "metadata may only be sent in the first chunk");
      if (chunk.data().empty()) continue;
      data = std::move(*chunk.mutable_data());
      return true;
    }
    return false;
  };
}

template <typename Chunk>
Chunk first_metadata(const Next<Chunk>& next) {
  Chunk first;
  if (!next(first) || !first.has_metadata())
    throw ApiError(StatusCode::INVALID_ARGUMENT, "the first chunk of the stream must be metadata");
  return first;
}

}  // namespace

CodebaseService::CodebaseService(store::CodebaseStore& store, std::vector<std::string> import_roots,
                                 BaseChanged on_base_changed, HoldAnswer hold_answer)
    : store_(store),
      import_roots_(std::move(import_roots)),
      on_base_changed_(std::move(on_base_changed)),
      hold_answer_(std::move(hold_answer)) {}

v1::Codebase CodebaseService::CreateCodebase(const v1::CreateCodebaseRequest& request) {
  check_codebase_names(request.name(), request.owner_id());
  v1::Codebase codebase = store_.create(request.name(), request.owner_id());
  log::info("codebase.created",
            {{"codebase_id", codebase.id()}, {"owner_id", codebase.owner_id()}});
  return codebase;
}

v1::Codebase CodebaseService::GetCodebase(const v1::GetCodebaseRequest& request) {
  return store_.get(request.codebase_id());
}

v1::ListCodebasesResponse CodebaseService::ListCodebases(const v1::ListCodebasesRequest& request) {
  v1::ListCodebasesResponse page =
      store_.list(request.owner_id(), request.page_size(), request.page_token());
  if (hold_answer_) hold_answer_(page, "ListCodebases");
  return page;
}

void CodebaseService::DeleteCodebase(const v1::DeleteCodebaseRequest& request) {
  store_.remove(request.codebase_id());
  log::info("codebase.deleted", {{"codebase_id", request.codebase_id()}});
}

v1::UploadResult CodebaseService::UploadFiles(const Next<v1::UploadChunk>& next) {
  const v1::UploadChunk first = first_metadata(next);
  const auto& meta = first.metadata();
  v1::UploadResult result = store_.upload(meta.codebase_id(), meta.file_path(), meta.total_size(),
                                          data_after_metadata(next));
  on_base_changed_(result.codebase_id(), {result.file_path()});
  return result;
}

void CodebaseService::DownloadFile(const v1::DownloadFileRequest& request,
                                   const Emit<v1::FileChunk>& emit) {
  store_.download(request.codebase_id(), request.file_path(), [&emit](const std::string& data) {
    v1::FileChunk chunk;
    chunk.set_data(data);
    return emit(chunk);
  });
}

v1::ListFilesResponse CodebaseService::ListFiles(const v1::ListFilesRequest& request) {
  v1::ListFilesResponse files =
      store_.list_files(request.codebase_id(), request.path(), request.recursive());
  if (hold_answer_) hold_answer_(files, "ListFiles");
  return files;
}

v1::UploadArchiveResult CodebaseService::UploadArchive(const Next<v1::ArchiveChunk>& next) {
  const v1::ArchiveChunk first = first_metadata(next);
  const auto& meta = first.metadata();
  const auto started = std::chrono::steady_clock::now();
  v1::UploadArchiveResult result =
      store_.upload_archive(meta.codebase_id(), meta.path(), data_after_metadata(next));
  on_base_changed_(result.codebase_id(), {meta.path().empty() ? "/" : meta.path()});
  log::info(
      "codebase.archive_uploaded",
      {{"codebase_id", result.codebase_id()},
       {"files", result.files()},
       {"bytes", result.bytes()},
       {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count()}});
  return result;
}

v1::Codebase CodebaseService::ImportDirectory(const v1::ImportDirectoryRequest& request) {
  check_codebase_names(request.name(), request.owner_id());
  v1::Codebase codebase =
      store_.import_directory(request.name(), request.owner_id(), request.path(), import_roots_);
  log::info("codebase.imported", {{"codebase_id", codebase.id()}, {"path", request.path()}});
  return codebase;
}

}  // namespace agentfense::server
