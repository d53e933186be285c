// Host identities for running sandboxes (issue 9 item 3): each running sandbox gets its
// own host uid/gid from a configured range, so that sandboxes are kept apart by the
// kernel even if a namespace boundary fails - a process that escaped one sandbox can
// neither signal, ptrace nor read the processes and files of another.
//
// A lease is an flock()ed file RUNTIME_ROOT/ids/<id> (RUNTIME_ROOT is the root-only
// /run/agentfense) held for as long as the sandbox runs. Every AgentFense process on
// the host (the server and each `agentfense run`) leases from the same directory, so
// no two running sandboxes hold one id, and the ids of a process that dies, even by
// kill -9, return by themselves when the kernel drops its locks.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/id_range.h"
#include "common/unique_fd.h"

namespace agentfense::supervisor {

class HostIdLease {
 public:
  // A free id of `range`: the first free one after the id this process leased last
  // (wrapping around), so that a start tries one lock file, not one per running sandbox
  // (0.7 ms with 30 sandboxes running, linear in their number), and a returned id is
  // reused as late as possible. Throws SystemError(EAGAIN) when every id is leased.
  // `lock_dir` defaults to RUNTIME_ROOT/ids; tests pass their own.
  static HostIdLease acquire(const IdRange& range, const std::string& lock_dir = "");

  HostIdLease(HostIdLease&&) noexcept = default;
  HostIdLease& operator=(HostIdLease&&) noexcept = default;
  HostIdLease(const HostIdLease&) = delete;
  HostIdLease& operator=(const HostIdLease&) = delete;
  ~HostIdLease() = default;  // closing the lock file returns the id

  uid_t uid() const { return id_; }
  gid_t gid() const { return static_cast<gid_t>(id_); }

 private:
  HostIdLease(UniqueFd lock, uid_t id) : lock_(std::move(lock)), id_(id) {}
  UniqueFd lock_;
  uid_t id_ = 0;
};

}  // namespace agentfense::supervisor
