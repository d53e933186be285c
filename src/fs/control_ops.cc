#include "fs/control_ops.h"

#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>

#include "common/errors.h"
#include "fs/kernel_notices.h"
#include "fs/node_rebind.h"
#include "layer/change_selection.h"
#include "layer/changes.h"
#include "layer/changes_wire.h"

namespace agentfense::fs {
namespace {

using nlohmann::json;

const char* kind_name(layer::ChangeKind kind) {
  switch (kind) {
    case layer::ChangeKind::kAdded:
      return "added";
    case layer::ChangeKind::kModified:
      return "modified";
    case layer::ChangeKind::kDeleted:
      return "deleted";
  }
  return "unknown";
}

// The optional "paths" member: workspace paths as the API carries them, normalized
// (layer/change_selection.h); absent or empty = all.
std::vector<std::string> paths_of(const json& request) {
  std::vector<std::string> paths;
  const auto it = request.find("paths");
  if (it == request.end() || it->is_null()) return paths;
  if (!it->is_array()) throw UserError("\"paths\" must be a list of strings");
  for (const json& path : *it) {
    if (!path.is_string()) throw UserError("\"paths\" must be a list of strings");
    paths.push_back(layer::selection_path_from_wire(path.get_ref<const std::string&>()));
  }
  return paths;
}

// Everything that replaces or removes upper files: no data write may be in flight
// (layer_gate) and no namespace change (mutation_mu). Kernel notices are sent by the
// caller once both are released (kernel_notices.h).
struct LayerLocks {
  explicit LayerLocks(Filesystem& fs) : gate(fs.layer_gate()), mutation(fs.mutation_mu()) {}
  std::unique_lock<std::shared_mutex> gate;
  std::unique_lock<std::mutex> mutation;
};

class Dispatcher {
 public:
  Dispatcher(Filesystem& fs, fuse_session* session, OpenWatch* opens)
      : fs_(fs), session_(session), opens_(opens) {}

  json run(const json& request) {
    if (!request.is_object()) throw UserError("request must be a JSON object");
    const auto op_it = request.find("op");
    if (op_it == request.end() || !op_it->is_string()) {
      throw UserError("request needs a string member \"op\"");
    }
    const std::string& op = op_it->get_ref<const std::string&>();
    json response = {{"ok", true}};
    if (op == "ping") return response;
    if (op == "changes") return changes(response);
    if (op == "diff") return diff(paths_of(request), response);
    if (op == "commit") return commit(paths_of(request), response);
    if (op == "discard") return discard(response);
    if (op == "refresh") return refresh(paths_of(request), response);
    if (op == "audit_begin" || op == "audit_end") return audit(op, request, response);
    throw UserError("unknown op '" + op +
                    "' (expected ping, changes, diff, commit, discard, refresh, "
                    "audit_begin or audit_end)");
  }

 private:
  // What this sandbox can see decides what a listing, diff or commit may show or touch.
  layer::Scope scope() const { return layer::Scope(fs_.access().policy()); }

  json audit(const std::string& op, const json& request, json& response) {
    audit::Recorder* recorder = fs_.access().recorder();
    if (!recorder) throw UserError("auditing is off for this mount");
    const auto it = request.find("command");
    if (it == request.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      throw UserError("\"command\" must be a non-empty string");
    }
    const std::string& id = it->get_ref<const std::string&>();
    if (op == "audit_begin") {
      recorder->begin_command(id);
      return response;
    }
    // The command's processes are gone: their closes are queued in the kernel.
    if (opens_) opens_->drain(std::chrono::seconds(2));
    if (!recorder->end_command(id)) throw UserError("the audit trail could not be written");
    response["dropped"] = recorder->dropped_total();
    return response;
  }

  json changes(json& response) {
    std::vector<layer::Change> changes;
    {
      std::lock_guard lock(fs_.mutation_mu());  // a consistent upper + journal snapshot
      changes = layer::list_changes(fs_.base_fd(), fs_.journal(), scope());
    }
    layer::to_wire(changes);
    json list = json::array();
    for (const layer::Change& change : changes) {
      list.push_back({{"path", change.path},
                      {"kind", kind_name(change.kind)},
                      {"type", std::string(1, change.type)}});
    }
    response["changes"] = std::move(list);
    return response;
  }

  json diff(const std::vector<std::string>& only, json& response) {
    std::lock_guard lock(fs_.mutation_mu());
    const auto changes = layer::list_changes(fs_.base_fd(), fs_.journal(), scope(), only);
    response["diff"] = layer::render_diff(fs_.base_fd(), fs_.journal(), scope(), changes);
    return response;
  }

  json commit(const std::vector<std::string>& only, json& response) {
    layer::CommitResult result;
    KernelNotices notices;
    {
      LayerLocks locks(fs_);
      result = layer::commit(fs_.base_fd(), fs_.journal(), scope(), only);
      fs_.recount_quota();  // committed entries left upper
      // Every node: the commit also removes emptied upper directories above what it
      // applied and rewrites markers elsewhere.
      notices = rebind_nodes(fs_, {"/"}, result.applied);
    }
    notify(notices);
    layer::to_wire(result);
    response["applied"] = result.applied;
    response["denied"] = result.denied;
    response["conflicts"] = result.conflicts;
    response["reasons"] = result.reasons;
    response["notes"] = result.notes;
    return response;
  }

  json discard(json& response) {
    KernelNotices notices;
    {
      LayerLocks locks(fs_);
      std::vector<std::string> changed;
      for (const layer::Change& change :
           layer::list_changes(fs_.base_fd(), fs_.journal(), scope())) {
        changed.push_back(change.path);  // deleted entries reappear: negative dentries
      }
      layer::discard(fs_.journal());
      fs_.recount_quota();
      notices = rebind_nodes(fs_, {"/"}, changed);
    }
    notify(notices);
    return response;
  }

  json refresh(const std::vector<std::string>& paths, json& response) {
    KernelNotices notices;
    {
      LayerLocks locks(fs_);
      notices = rebind_nodes(fs_, paths, paths);
    }
    notify(notices);
    return response;
  }

  // Bumps the content epoch first: a prefetch that read old content while the layers
  // changed then drops what it stored (prefetch.h).
  void notify(const KernelNotices& notices) {
    fs_.bump_content_epoch();
    send_notices(session_, notices);
  }

  Filesystem& fs_;
  fuse_session* session_;
  OpenWatch* opens_;
};

json error_response(const std::string& message) {
  // One line, whatever the exception text held.
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return {{"ok", false}, {"error", line}};
}

}  // namespace

std::string ControlOps::handle(std::string_view request_line) {
  json response;
  try {
    const json request = json::parse(request_line);
    response = Dispatcher(fs_, session_, opens_).run(request);
  } catch (const json::parse_error& e) {
    response = error_response(std::string("request is not valid JSON: ") + e.what());
  } catch (const std::exception& e) {
    response = error_response(e.what());
  } catch (...) {
    response = error_response("internal error");
  }
  // Host file names need not be UTF-8; an invalid byte is replaced rather than failing
  // the whole response.
  return response.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace agentfense::fs
