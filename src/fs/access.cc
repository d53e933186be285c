#include "fs/access.h"

#include <chrono>
#include <nlohmann/json.hpp>

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
}  // namespace

bool Access::check(Op op, std::string_view path, const policy::Decision& decision,
                   policy::Level needed) const {
  const bool allowed = decision.level >= needed;
  if (audit_ && (!allowed || is_modification(op))) record(op, path, decision, allowed);
  return allowed;
}

void Access::record(Op op, std::string_view path, const policy::Decision& decision,
                    bool allowed) const {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  nlohmann::json line = {
      {"ts", std::chrono::duration<double>(now).count()}, {"op", to_string(op)}, {"path", path},
      {"level", policy::to_string(decision.level)},       {"allowed", allowed},  {"rule", nullptr},
  };
  if (decision.rule >= 0) {
    line["rule"] = policy::describe(policy_.rules().at(static_cast<size_t>(decision.rule)));
  }
  // Paths are arbitrary bytes; never let a non-UTF-8 name throw inside a FUSE handler.
  audit_->append_line(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace agentfense::fs
