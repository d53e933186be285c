#include "server/write_layer.h"

#include <cerrno>

#include "common/errors.h"
#include "layer/change_selection.h"
#include "layer/changes.h"
#include "layer/changes_wire.h"
#include "layer/journal.h"
#include "layer/listed_paths.h"
#include "layer/review_token.h"
#include "layer/state_lock.h"
#include "server/commit_room.h"

namespace agentfense::server {
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

// A stopped sandbox's write layer may still be held by a process serving it: an fs
// process left behind by a crash, which the server's recovery could not end. Working on
// the journal beside it would make two writers lose each other's records, so the
// offline work takes the lock an fs process holds for its whole life (StateLock).
layer::StateLock hold_write_layer(const std::string& state_dir) {
  try {
    return layer::StateLock::acquire(state_dir);
  } catch (const SystemError& error) {
    if (error.code() != EBUSY) throw;
    throw ApiError(
        StatusCode::FAILED_PRECONDITION,
        std::string("the sandbox is stopped but its write layer is still held: ") + error.what(),
        kReasonWriteLayerBusy);
  }
}

}  // namespace

std::string change_path_from_wire(const std::string& text) {
  try {
    return layer::selection_path_from_wire(text);
  } catch (const UserError& error) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, error.what(), kReasonInvalidPath);
  }
}

v1::ListChangesResponse changes_to_wire(std::vector<layer::Change> changes, std::size_t omitted) {
  layer::to_wire(changes);  // first: a name's wire form may be longer
  omitted += layer::bound_changes(changes);
  v1::ListChangesResponse out;
  out.set_omitted(static_cast<std::int64_t>(omitted));
  for (const layer::Change& change : changes) {
    v1::FileChange* wire = out.add_changes();
    wire->set_path(change.path);
    wire->set_kind(kind_to_wire(change.kind));
    wire->set_is_dir(change.type == 'd');
    wire->set_is_symlink(change.type == 'l');
  }
  return out;
}

v1::CommitChangesResponse commit_to_wire(layer::CommitResult result) {
  layer::to_wire(result);  // first: a name's wire form may be longer
  layer::bound_commit_lists(result);
  v1::CommitChangesResponse out;
  out.set_applied_omitted(static_cast<std::int64_t>(result.applied_omitted));
  out.set_denied_omitted(static_cast<std::int64_t>(result.denied_omitted));
  out.set_conflicts_omitted(static_cast<std::int64_t>(result.conflicts_omitted));
  for (const auto& p : result.applied) out.add_applied(p);
  for (const auto& p : result.denied) out.add_denied(p);
  for (const auto& p : result.conflicts) out.add_conflicts(p);
  for (const auto& [path, why] : result.reasons) (*out.mutable_reasons())[path] = why;
  for (const auto& [path, note] : result.notes) (*out.mutable_notes())[path] = note;
  return out;
}

v1::ListChangesResponse offline_changes(int base_dirfd, const std::string& state_dir,
                                        const policy::Policy& policy) {
  const layer::StateLock held = hold_write_layer(state_dir);
  const auto journal = layer::Journal::open(state_dir);
  std::size_t omitted = 0;
  std::vector<layer::Change> first =
      layer::list_first_changes(base_dirfd, *journal, layer::Scope(policy), &omitted);
  return changes_to_wire(std::move(first), omitted);
}

v1::DiffChangesResponse offline_diff(int base_dirfd, const std::string& state_dir,
                                     const policy::Policy& policy,
                                     const std::vector<std::string>& paths,
                                     const layer::DiffGrowth& grown) {
  const layer::StateLock held = hold_write_layer(state_dir);
  const auto journal = layer::Journal::open(state_dir);
  const layer::Scope scope(policy);
  v1::DiffChangesResponse out;
  out.set_review_token(layer::review_token(base_dirfd, *journal, scope, paths));
  out.set_diff(layer::diff_first_changes(base_dirfd, *journal, scope, paths, grown));
  return out;
}

v1::CommitChangesResponse offline_commit(int base_dirfd, const std::string& state_dir,
                                         const policy::Policy& policy,
                                         const std::vector<std::string>& paths,
                                         const std::string& review_token) {
  const layer::StateLock held = hold_write_layer(state_dir);
  const auto journal = layer::Journal::open(state_dir);
  const layer::Scope scope(policy);
  if (!review_token.empty() &&
      layer::review_token(base_dirfd, *journal, scope, paths) != review_token)
    throw_review_outdated("the changes are no longer those of the review; review them again");
  return commit_to_wire(layer::commit(base_dirfd, *journal, scope, paths));
}

void offline_discard(const std::string& state_dir) {
  const layer::StateLock held = hold_write_layer(state_dir);
  const auto journal = layer::Journal::open(state_dir);
  layer::discard(*journal);
}

std::vector<std::string> paths_to_refresh(const v1::CommitChangesResponse& result) {
  // A report that leaves paths out cannot say which cached views they touch: all of them.
  if (result.applied_omitted() > 0) return {"/"};
  return {result.applied().begin(), result.applied().end()};
}

}  // namespace agentfense::server
