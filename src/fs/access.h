// The single place that decides whether an operation on a path is allowed, and records
// the decision in the audit log.
#pragma once

#include <cstdint>
#include <string_view>

#include "fs/audit_log.h"
#include "policy/policy.h"

namespace agentfense::fs {

enum class Op : std::uint8_t {
  kLookup,
  kGetattr,
  kReaddir,
  kReadlink,
  kRead,
  kWrite,
  kTruncate,
  kUtimens,
  kChmod,
  kChown,
  kCreate,
  kMkdir,
  kMknod,
  kSymlink,
  kLink,
  kUnlink,
  kRmdir,
  kRename,
  kGetxattr,
  kSetxattr,
  kRemovexattr
};

std::string_view to_string(Op op);

class Access {
 public:
  // `audit` may be null (auditing off).
  Access(const policy::Policy& policy, AuditLog* audit) : policy_(policy), audit_(audit) {}

  // True when `decision` grants at least `needed`. Denials are always audited; allowed
  // operations are audited when they change the namespace or metadata (reads, writes
  // and lookups arrive per page / per name: one line each would swamp the log).
  bool check(Op op, std::string_view path, const policy::Decision& decision,
             policy::Level needed) const;

  // Records an operation refused for a reason other than the level (chown, devices).
  void deny(Op op, std::string_view path, const policy::Decision& decision) const {
    if (audit_) record(op, path, decision, false);
  }

  const policy::Policy& policy() const { return policy_; }

 private:
  void record(Op op, std::string_view path, const policy::Decision& decision, bool allowed) const;

  const policy::Policy& policy_;
  AuditLog* audit_;
};

}  // namespace agentfense::fs
