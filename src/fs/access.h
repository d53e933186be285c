// The single place that decides whether an operation on a path is allowed, and records
// the decision in the audit trail (audit/recorder.h).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/recorder.h"
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

// The pid of the process whose request this thread is serving (fuse_req_ctx), set by
// the C boundary (ops_table.cc) for the duration of one request; 0 outside requests.
class RequestCaller {
 public:
  explicit RequestCaller(pid_t pid);
  ~RequestCaller();
  RequestCaller(const RequestCaller&) = delete;
  RequestCaller& operator=(const RequestCaller&) = delete;
  static pid_t current();

 private:
  pid_t previous_;
};

class Access {
 public:
  // `audit` may be null (auditing off).
  Access(const policy::Policy& policy, audit::Recorder* audit);

  // True when `decision` grants at least `needed`. Denials are always recorded; allowed
  // operations when they change the namespace or metadata. Allowed opens are recorded by
  // OpenWatch (open_watch.h) and listings by Filesystem::listing: reads, writes and
  // lookups arrive per page or per name, and are never recorded per request. `path2` is
  // the other name of a rename or link.
  bool check(Op op, std::string_view path, const policy::Decision& decision, policy::Level needed,
             std::string_view path2 = {}) const;

  // Records an operation refused for a reason other than the level (chown, devices).
  void deny(Op op, std::string_view path, const policy::Decision& decision, int error) const {
    if (audit_) record(op, path, {}, decision, false, error, "not permitted");
  }

  // Records an event the caller classified itself (open watch, listings, refused
  // permission checks); `op` is the trail's operation name.
  void record_event(std::string_view op, std::string_view path, const policy::Decision& decision,
                    bool allowed, int error, std::string_view reason) const;

  // Leaves `pid`'s requests and opens out of the trail: the warm-up walker's
  // (prewarm_walk.h), which is not the agent. 0 = none.
  void set_quiet_pid(pid_t pid) const { quiet_pid_.store(pid); }
  bool is_quiet(pid_t pid) const { return pid != 0 && pid == quiet_pid_.load(); }

  bool auditing() const { return audit_ != nullptr; }
  audit::Recorder* recorder() const { return audit_; }
  const policy::Policy& policy() const { return policy_; }

 private:
  void record(Op op, std::string_view path, std::string_view path2,
              const policy::Decision& decision, bool allowed, int error,
              std::string_view reason) const;

  const policy::Policy& policy_;
  audit::Recorder* audit_;
  mutable std::atomic<pid_t> quiet_pid_{0};  // settable through the const access()
  std::vector<std::string> rule_text_;       // describe() of each rule, computed once
};

}  // namespace agentfense::fs
