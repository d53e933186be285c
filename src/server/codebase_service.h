// CodebaseApi over the store. Uploads into a codebase that running sandboxes have
// mounted are announced through `on_base_changed`, so those mounts drop their caches
// of the changed paths.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/api.h"
#include "store/codebase_store.h"

namespace agentfense::server {

using BaseChanged =
    std::function<void(const std::string& codebase_id, const std::vector<std::string>& paths)>;

class CodebaseService final : public CodebaseApi {
 public:
  CodebaseService(store::CodebaseStore& store, std::vector<std::string> import_roots,
                  BaseChanged on_base_changed, HoldAnswer hold_answer = {});

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
  store::CodebaseStore& store_;
  std::vector<std::string> import_roots_;
  BaseChanged on_base_changed_;
  HoldAnswer hold_answer_;
};

}  // namespace agentfense::server
