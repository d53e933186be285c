#include "fs/access.h"

#include <cerrno>

namespace agentfense::fs {

std::string_view to_string(Op op) {
  switch (op) {
    case Op::kLookup:
      return "lookup";
    case Op::kGetattr:
      return "getattr";
    case Op::kReaddir:
      return "readdir";
    case Op::kReadlink:
      return "readlink";
    case Op::kRead:
      return "read";
    case Op::kWrite:
      return "write";
    case Op::kTruncate:
      return "truncate";
    case Op::kUtimens:
      return "utimens";
    case Op::kChmod:
      return "chmod";
    case Op::kChown:
      return "chown";
    case Op::kCreate:
      return "create";
    case Op::kMkdir:
      return "mkdir";
    case Op::kMknod:
      return "mknod";
    case Op::kSymlink:
      return "symlink";
    case Op::kLink:
      return "link";
    case Op::kUnlink:
      return "unlink";
    case Op::kRmdir:
      return "rmdir";
    case Op::kRename:
      return "rename";
    case Op::kGetxattr:
      return "getxattr";
    case Op::kSetxattr:
      return "setxattr";
    case Op::kRemovexattr:
      return "removexattr";
  }
  return "unknown";
}

namespace {

bool is_modification(Op op) {
  switch (op) {
    case Op::kLookup:
    case Op::kGetattr:
    case Op::kReaddir:
    case Op::kReadlink:
    case Op::kRead:
    case Op::kWrite:
    case Op::kGetxattr:
      return false;
    default:
      return true;
  }
}

// The trail's operation name (docs/audit.md) and, where one name covers several
// requests, what kind of thing or attribute it was.
struct TrailOp {
  std::string_view op;
  std::string_view type;
};

TrailOp trail_op(Op op) {
  switch (op) {
    case Op::kRead:
      return {"open_read", {}};
    case Op::kWrite:
      return {"open_write", {}};
    case Op::kTruncate:
      return {"setattr", "size"};
    case Op::kUtimens:
      return {"setattr", "times"};
    case Op::kChmod:
      return {"setattr", "mode"};
    case Op::kChown:
      return {"setattr", "owner"};
    case Op::kCreate:
      return {"create", "file"};
    case Op::kMkdir:
      return {"create", "dir"};
    case Op::kMknod:
      return {"create", "node"};
    case Op::kUnlink:
      return {"unlink", "file"};
    case Op::kRmdir:
      return {"unlink", "dir"};
    default:
      return {to_string(op), {}};
  }
}

// The errno each refused operation answers with (ops_*.cc).
int refusal_errno(Op op) {
  switch (op) {
    case Op::kLookup:
      return ENOENT;
    case Op::kChmod:
    case Op::kChown:
      return EPERM;
    default:
      return EACCES;
  }
}

}  // namespace

namespace {
thread_local pid_t t_request_caller = 0;
}  // namespace

RequestCaller::RequestCaller(pid_t pid) : previous_(t_request_caller) {
  t_request_caller = pid;
}
RequestCaller::~RequestCaller() {
  t_request_caller = previous_;
}
pid_t RequestCaller::current() {
  return t_request_caller;
}

Access::Access(const policy::Policy& policy, audit::Recorder* audit)
    : policy_(policy), audit_(audit) {
  if (!audit_) return;
  for (const policy::Rule& rule : policy_.rules()) rule_text_.push_back(policy::describe(rule));
}

bool Access::check(Op op, std::string_view path, const policy::Decision& decision,
                   policy::Level needed, std::string_view path2) const {
  const bool allowed = decision.level >= needed;
  // A link's new name is checked again by prepare_create: op_link recorded the pair.
  if (op == Op::kLink && path2.empty()) return allowed;
  if (audit_ && (!allowed || is_modification(op))) {
    const bool hidden = !allowed && op == Op::kLookup;
    record(op, path, path2, decision, allowed, allowed ? 0 : refusal_errno(op),
           allowed ? "" : (hidden ? "hidden" : "level"));
  }
  return allowed;
}

void Access::record(Op op, std::string_view path, std::string_view path2,
                    const policy::Decision& decision, bool allowed, int error,
                    std::string_view reason) const {
  if (is_quiet(RequestCaller::current())) return;
  const TrailOp named = trail_op(op);
  audit::Event event;
  event.op = named.op;
  event.type = named.type;
  event.path = path;
  event.path2 = path2;
  event.level = policy::to_string(decision.level);
  if (decision.rule >= 0 && static_cast<size_t>(decision.rule) < rule_text_.size()) {
    event.rule = rule_text_[static_cast<size_t>(decision.rule)];
  }
  event.allowed = allowed;
  event.error = error;
  event.reason = reason;
  audit_->record(std::move(event));
}

void Access::record_event(std::string_view op, std::string_view path,
                          const policy::Decision& decision, bool allowed, int error,
                          std::string_view reason) const {
  if (!audit_ || is_quiet(RequestCaller::current())) return;
  audit::Event event;
  event.op = op;
  event.path = path;
  event.level = policy::to_string(decision.level);
  if (decision.rule >= 0 && static_cast<size_t>(decision.rule) < rule_text_.size()) {
    event.rule = rule_text_[static_cast<size_t>(decision.rule)];
  }
  event.allowed = allowed;
  event.error = error;
  event.reason = reason;
  audit_->record(std::move(event));
}

}  // namespace agentfense::fs
