// The write layer (changes, diff, commit, discard) and sandbox-scoped files.
#include "common/api_error.h"
#include "common/log.h"
#include "server/audit_trails.h"
#include "server/call_context.h"
#include "server/commit_room.h"
#include "server/principal_share.h"
#include "server/rules.h"
#include "server/sandbox_files.h"
#include "server/sandbox_service.h"
#include "server/write_layer.h"
#include "supervisor/base_dir.h"

namespace agentfense::server {
namespace {

// Paths one DiffChanges or CommitChanges may name: a directory selects everything below
// it, so a review never needs more, and each one is work while the layer is locked.
constexpr int kMaxSelectedPaths = 10'000;

std::vector<std::string> selected_paths(
    const google::protobuf::RepeatedPtrField<std::string>& raw) {
  if (raw.size() > kMaxSelectedPaths)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "paths: " + std::to_string(raw.size()) + " paths, more than " +
                       std::to_string(kMaxSelectedPaths) +
                       " per request; name their directories instead");
  std::vector<std::string> paths;
  for (const std::string& p : raw) paths.push_back(change_path_from_wire(p));
  return paths;
}

// What a commit report keeps when it does not fit: its counts, as a report past its
// lists' bounds does (the paths are in the audit trail's commit event).
void keep_counts_only(v1::CommitChangesResponse& report) {
  report.set_applied_omitted(report.applied_omitted() + report.applied_size());
  report.set_denied_omitted(report.denied_omitted() + report.denied_size());
  report.set_conflicts_omitted(report.conflicts_omitted() + report.conflicts_size());
  report.clear_applied();
  report.clear_denied();
  report.clear_conflicts();
  report.clear_reasons();
  report.clear_notes();
}

}  // namespace

// A sandbox that is mounted is asked through its fs process (write_layer.h), outside
// every lock: the LiveSandbox orders its commands and commits itself. One that is not
// has nobody else holding its journal: the server works on it directly, holding the
// sandbox's lock so that a start (which mounts that state directory) or a destroy waits
// until it is done. The choice is a lookup under that lock, so no start can slip in
// between "not running" and the offline work.
SandboxService::LayerAccess SandboxService::layer_access(const std::string& id) {
  LayerAccess access;
  access.offline = locks_.lock(id);
  access.sandbox = load(id);  // NOT_FOUND, also for one destroyed while we waited
  access.live = find_live(id);
  if (access.live) access.offline.unlock();
  return access;
}

std::int64_t SandboxService::answer_bytes(const google::protobuf::Message& answer) {
  return static_cast<std::int64_t>(answer.SpaceUsedLong() + answer.ByteSizeLong());
}

void SandboxService::hold_commit_report(v1::CommitChangesResponse& report,
                                        const std::string& holder) {
  const auto grant = std::make_shared<MemoryBudget::Grant>(read_budget_, "CommitChanges", holder);
  try {
    grant->hold(answer_bytes(report));
  } catch (const ApiError& full) {
    if (full.code() != StatusCode::RESOURCE_EXHAUSTED) throw;
    log::info("sandbox.commit_report_trimmed", {{"bytes", report.ByteSizeLong()}});
    keep_counts_only(report);
    grant->hold_anyway(answer_bytes(report));
  }
  KeptUntilSent::keep(grant);
}

std::shared_ptr<MemoryBudget::Grant> SandboxService::answer_grant(const char* what,
                                                                  const std::string& holder) {
  read_budget_.check_room(what, holder);
  return std::make_shared<MemoryBudget::Grant>(read_budget_, what, holder);
}

SandboxMount::ReplyBytes SandboxService::charging(MemoryBudget::Grant& grant) {
  return [&grant](std::size_t arrived) {
    grant.hold(kReplyCopies * static_cast<std::int64_t>(arrived));
  };
}

void SandboxService::hold_answer(const google::protobuf::Message& answer,
                                 const std::shared_ptr<MemoryBudget::Grant>& grant) {
  const std::int64_t bytes = answer_bytes(answer);
  grant->lower_to(bytes);  // the reply's copies are gone
  grant->hold(bytes);
  KeptUntilSent::keep(grant);
}

std::unique_ptr<MemoryBudget::Grant> SandboxService::compile_charge(std::int64_t cost,
                                                                    const char* what,
                                                                    const std::string& holder) {
  if (cost < kFreeCompileBytes) return nullptr;
  auto grant = std::make_unique<MemoryBudget::Grant>(compile_budget_, what, holder);
  grant->hold(cost);
  return grant;
}

std::unique_ptr<MemoryBudget::Grant> SandboxService::kept_rules_charge(std::int64_t cost,
                                                                       const std::string& holder) {
  if (cost < kFreeCompileBytes) return nullptr;
  auto grant = std::make_unique<MemoryBudget::Grant>(kept_rules_budget_, "StartSandbox", holder);
  grant->hold(cost * kKeptRuleCopies);
  return grant;
}

policy::Policy SandboxService::compiled(const WireRules& rules, const char* what,
                                        const std::string& holder) {
  const auto charge = compile_charge(compile_cost(rules), what, holder);
  return policy_from_wire(rules);
}

void SandboxService::hold_caller_answer(const google::protobuf::Message& answer, const char* what) {
  hold_read_answer(answer, what, caller_holder());
}

void SandboxService::hold_read_answer(const google::protobuf::Message& answer, const char* what,
                                      const std::string& holder) {
  if (answer_bytes(answer) < kUnchargedAnswerBytes) return;
  hold_answer(answer, std::make_shared<MemoryBudget::Grant>(read_budget_, what, holder));
}

void SandboxService::check_change_answer_room(const google::protobuf::Message& like,
                                              const char* what, const std::string& holder) {
  const std::int64_t bytes = answer_bytes(like);
  if (bytes >= kUnchargedAnswerBytes) read_budget_.check_room(what, holder, bytes);
}

void SandboxService::hold_change_answer(const google::protobuf::Message& answer, const char* what,
                                        const std::string& holder) {
  const std::int64_t bytes = answer_bytes(answer);
  if (bytes < kUnchargedAnswerBytes) return;
  const auto grant = std::make_shared<MemoryBudget::Grant>(read_budget_, what, holder);
  grant->hold_anyway(bytes);
  KeptUntilSent::keep(grant);
}

v1::ListChangesResponse SandboxService::ListChanges(const v1::ListChangesRequest& request) {
  const LayerAccess access = layer_access(request.sandbox_id());
  const auto grant = answer_grant("ListChanges", caller_holder());
  v1::ListChangesResponse changes;
  if (access.live) {
    changes = access.live->changes(charging(*grant));
  } else {
    const v1::Sandbox& sandbox = access.sandbox;
    const UniqueFd base = supervisor::open_base_dir(codebases_.files_dir(sandbox.codebase_id()));
    const policy::Policy policy = compiled(sandbox.permissions(), "ListChanges", caller_holder());
    changes = offline_changes(base.get(), state_dir(sandbox.id()) + "/state", policy);
  }
  hold_answer(changes, grant);
  return changes;
}

v1::DiffChangesResponse SandboxService::DiffChanges(const v1::DiffChangesRequest& request) {
  const LayerAccess access = layer_access(request.sandbox_id());
  const std::vector<std::string> paths = selected_paths(request.paths());
  const auto grant = answer_grant("DiffChanges", caller_holder());
  v1::DiffChangesResponse diff;
  if (access.live) {
    diff = access.live->diff(paths, charging(*grant));
  } else {
    const v1::Sandbox& sandbox = access.sandbox;
    const UniqueFd base = supervisor::open_base_dir(codebases_.files_dir(sandbox.codebase_id()));
    const policy::Policy policy = compiled(sandbox.permissions(), "DiffChanges", caller_holder());
    // Charged as it grows, twice: a string's room doubles as it grows (made whole
    // before any was charged, 12 stopped sandboxes' diffs took 561 MiB: sweep V, V2).
    diff = offline_diff(
        base.get(), state_dir(sandbox.id()) + "/state", policy, paths,
        [&grant](std::size_t bytes) { grant->hold(2 * static_cast<std::int64_t>(bytes)); });
  }
  hold_answer(diff, grant);
  return diff;
}

v1::CommitChangesResponse SandboxService::CommitChanges(const v1::CommitChangesRequest& request) {
  // Held (offline) until the commit's audit event is written: a start waiting for the
  // lock comes after it in the trail too.
  const LayerAccess access = layer_access(request.sandbox_id());
  const std::vector<std::string> paths = selected_paths(request.paths());
  const v1::Sandbox& sandbox = access.sandbox;
  v1::CommitChangesResponse result;
  if (access.live) {
    result = access.live->commit(paths, request.review_token());
  } else {
    reserve_commit_room(codebases_, sandbox.codebase_id(),
                        write_layer_bytes(state_dir(sandbox.id()) + "/state"));
    try {
      const UniqueFd base = supervisor::open_base_dir(codebases_.files_dir(sandbox.codebase_id()));
      const policy::Policy policy =
          compiled(sandbox.permissions(), "CommitChanges", caller_holder());
      result = offline_commit(base.get(), state_dir(sandbox.id()) + "/state", policy, paths,
                              request.review_token());
    } catch (...) {
      stats_.mark(sandbox.codebase_id());  // the room it reserved was not used
      throw;
    }
  }
  after_commit(sandbox.codebase_id(), sandbox.id(), result);
  log::info("sandbox.commit",
            {{"sandbox_id", sandbox.id()},
             {"applied", result.applied_size() + result.applied_omitted()},
             {"denied", result.denied_size() + result.denied_omitted()},
             {"conflicts", result.conflicts_size() + result.conflicts_omitted()}});
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
  add_paths(details, "requested", paths);
  add_paths(details, "applied", result.applied(), result.applied_omitted());
  add_paths(details, "denied", result.denied(), result.denied_omitted());
  add_paths(details, "conflicts", result.conflicts(), result.conflicts_omitted());
  audit(sandbox.id(), "commit", details);
  hold_commit_report(result, caller_holder());
  return result;
}

void SandboxService::DiscardChanges(const v1::DiscardChangesRequest& request) {
  const LayerAccess access = layer_access(request.sandbox_id());
  if (access.live)
    access.live->discard();
  else
    offline_discard(state_dir(access.sandbox.id()) + "/state");
  audit(access.sandbox.id(), "discard");
}

// ReadSandboxFile and WriteSandboxFile act in the workspace for their caller, not for the
// agent: each runs as a command of its own (its file events carry that "cmd") and leaves
// a read_file / write_file security event naming the caller, the path, the bytes and that
// cmd. Without them an API write reached the codebase with no trace of who sent it, and
// its file events read as the agent's. A call refused on the way (hidden, no permission,
// not a regular file, a failed commit) is recorded denied, with the error.
void SandboxService::file_call(const std::string& sandbox_id, const char* op,
                               const std::string& path,
                               const std::function<nlohmann::ordered_json(std::string&)>& call) {
  std::string command_id;  // set by `call` once its command began
  nlohmann::ordered_json details;
  try {
    details = call(command_id);
  } catch (const std::exception& error) {
    nlohmann::ordered_json refused = {{"path", path}, {"error", error.what()}};
    if (!command_id.empty()) refused["cmd"] = command_id;
    audit(sandbox_id, op, std::move(refused), false);
    throw;
  }
  audit(sandbox_id, op, std::move(details));
}

v1::ReadSandboxFileResponse SandboxService::ReadSandboxFile(
    const v1::ReadSandboxFileRequest& request) {
  const auto live = running(request.sandbox_id());
  const std::string path = workspace_path(request.path(), false);
  const auto grant =
      std::make_shared<MemoryBudget::Grant>(read_budget_, "ReadSandboxFile", caller_holder());
  v1::ReadSandboxFileResponse response;
  file_call(request.sandbox_id(), "read_file", path, [&](std::string& command_id) {
    const auto outcome = live->as_command(
        [&](const std::string& id) {
          command_id = id;
          response = read_sandbox_file(live->workspace_fd(), live->policy(), path, *grant);
        },
        false);
    return nlohmann::ordered_json{
        {"cmd", outcome.command_id}, {"path", path}, {"bytes", response.content().size()}};
  });
  // Held until gRPC sent the answer (call_context.h): ended here, 6 unread answers of a
  // 60 MiB file grew the server by 720 MiB while the budget admitted more reads.
  KeptUntilSent::keep(grant);
  return response;
}

v1::SandboxFileInfo SandboxService::WriteSandboxFile(const v1::WriteSandboxFileRequest& request) {
  const auto live = running(request.sandbox_id());
  const std::string path = workspace_path(request.path(), false);
  v1::SandboxFileInfo info;
  file_call(request.sandbox_id(), "write_file", path, [&](std::string& command_id) {
    // A write is a completed operation like a command: with sync-on-complete it reaches
    // the codebase right away.
    const auto outcome = live->as_command(
        [&](const std::string& id) {
          command_id = id;
          info = write_sandbox_file(live->workspace_fd(), live->policy(), path, request.content());
        },
        true);
    after_commit(live->codebase_id(), request.sandbox_id(), outcome.commit);
    nlohmann::ordered_json details = {
        {"cmd", outcome.command_id}, {"path", path}, {"bytes", request.content().size()}};
    add_sync_paths(details, outcome.commit);
    return details;
  });
  return info;
}

v1::ListSandboxFilesResponse SandboxService::ListSandboxFiles(
    const v1::ListSandboxFilesRequest& request) {
  const auto live = running(request.sandbox_id());
  const auto grant = answer_grant("ListSandboxFiles", caller_holder());
  live->require_fs_answer();  // a listing on a hung mount would block for good
  v1::ListSandboxFilesResponse files =
      list_sandbox_files(request.sandbox_id(), live->workspace_fd(), live->policy(),
                         workspace_path(request.path(), true), request.recursive());
  hold_answer(files, grant);
  return files;
}

}  // namespace agentfense::server
