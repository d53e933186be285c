#include "server/write_layer.h"

#include "common/errors.h"
#include "common/text_safety.h"
#include "layer/change_selection.h"
#include "layer/changes.h"
#include "layer/changes_wire.h"
#include "layer/journal.h"

namespace agentfense::server {
using grpc::StatusCode;
namespace {

v1::ChangeKind kind_to_wire(layer::ChangeKind kind) {
  switch (kind) {
    case layer::ChangeKind::kAdded:
      return v1::CHANGE_KIND_ADDED;
    case layer::ChangeKind::kModified:
      return v1::CHANGE_KIND_MODIFIED;
    case layer::ChangeKind::kDeleted:
      return v1::CHANGE_KIND_DELETED;
  }
  return v1::CHANGE_KIND_UNSPECIFIED;
}

v1::ChangeKind kind_from_text(const std::string& text) {
  if (text == "added") return v1::CHANGE_KIND_ADDED;
  if (text == "modified") return v1::CHANGE_KIND_MODIFIED;
  if (text == "deleted") return v1::CHANGE_KIND_DELETED;
  return v1::CHANGE_KIND_UNSPECIFIED;
}

void add_change(v1::ListChangesResponse& out, const std::string& path, v1::ChangeKind kind,
                char type) {
  v1::FileChange* change = out.add_changes();
  change->set_path(path);
  change->set_kind(kind);
  change->set_is_dir(type == 'd');
  change->set_is_symlink(type == 'l');
}

void fill_commit(v1::CommitChangesResponse& out, layer::CommitResult result) {
  layer::to_wire(result);
  for (const auto& p : result.applied) out.add_applied(p);
  for (const auto& p : result.denied) out.add_denied(p);
  for (const auto& p : result.conflicts) out.add_conflicts(p);
  for (const auto& [path, why] : result.reasons) (*out.mutable_reasons())[path] = why;
  for (const auto& [path, note] : result.notes) (*out.mutable_notes())[path] = note;
}

void copy_paths(const nlohmann::json& reply, const char* key,
                google::protobuf::RepeatedPtrField<std::string>& out) {
  const auto list = reply.find(key);
  if (list == reply.end()) return;
  for (const auto& path : *list) out.Add(path.get<std::string>());
}

}  // namespace

std::string change_path_from_wire(const std::string& text) {
  try {
    return layer::selection_path_from_wire(text);
  } catch (const UserError& error) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, error.what(), kReasonInvalidPath);
  }
}

v1::ListChangesResponse offline_changes(int base_dirfd, const std::string& state_dir,
                                        const policy::Policy& policy) {
  const auto journal = layer::Journal::open(state_dir);
  v1::ListChangesResponse out;
  std::vector<layer::Change> changes =
      layer::list_changes(base_dirfd, *journal, layer::Scope(policy));
  layer::to_wire(changes);
  for (const auto& change : changes)
    add_change(out, change.path, kind_to_wire(change.kind), change.type);
  return out;
}

v1::DiffChangesResponse offline_diff(int base_dirfd, const std::string& state_dir,
                                     const policy::Policy& policy,
                                     const std::vector<std::string>& paths) {
  const auto journal = layer::Journal::open(state_dir);
  const layer::Scope scope(policy);
  const auto changes = layer::list_changes(base_dirfd, *journal, scope, paths);
  v1::DiffChangesResponse out;
  out.set_diff(layer::render_diff(base_dirfd, *journal, scope, changes));
  return out;
}

v1::CommitChangesResponse offline_commit(int base_dirfd, const std::string& state_dir,
                                         const policy::Policy& policy,
                                         const std::vector<std::string>& paths) {
  const auto journal = layer::Journal::open(state_dir);
  v1::CommitChangesResponse out;
  fill_commit(out, layer::commit(base_dirfd, *journal, layer::Scope(policy), paths));
  return out;
}

void offline_discard(const std::string& state_dir) {
  const auto journal = layer::Journal::open(state_dir);
  layer::discard(*journal);
}

v1::ListChangesResponse changes_from_control(const nlohmann::json& reply) {
  v1::ListChangesResponse out;
  for (const auto& change : reply.at("changes")) {
    const std::string type = change.value("type", "f");
    add_change(out, change.at("path").get<std::string>(),
               kind_from_text(change.at("kind").get<std::string>()), type.empty() ? 'f' : type[0]);
  }
  return out;
}

v1::CommitChangesResponse commit_from_control(const nlohmann::json& reply) {
  v1::CommitChangesResponse out;
  copy_paths(reply, "applied", *out.mutable_applied());
  copy_paths(reply, "denied", *out.mutable_denied());
  copy_paths(reply, "conflicts", *out.mutable_conflicts());
  if (const auto reasons = reply.find("reasons"); reasons != reply.end())
    for (const auto& [path, why] : reasons->items())
      (*out.mutable_reasons())[path] = why.get<std::string>();
  if (const auto notes = reply.find("notes"); notes != reply.end())
    for (const auto& [path, note] : notes->items())
      (*out.mutable_notes())[path] = note.get<std::string>();
  return out;
}

std::vector<std::string> paths_to_refresh(const v1::CommitChangesResponse& result) {
  return {result.applied().begin(), result.applied().end()};
}

}  // namespace agentfense::server
