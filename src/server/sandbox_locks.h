// One lock per sandbox id, for what must not interleave on one sandbox (start, stop,
// destroy, expiry, and the layer operations of a stopped sandbox, which work on its
// state directory directly) while other sandboxes go on unhindered. An entry exists only
// while somebody holds or waits for it, so the map never grows with the number of
// sandboxes ever seen.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace agentfense::server {

class SandboxLocks {
  struct Entry {
    std::mutex mutex;
    int users = 0;  // holders and waiters; the entry goes when it drops to 0
  };
  using Entries = std::map<std::string, Entry>;  // nodes never move: waiters keep pointers

 public:
  // Holds one sandbox's lock until destroyed or unlock(); movable.
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&& other) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { unlock(); }

    void unlock();
    bool owns_lock() const { return locks_ != nullptr; }

   private:
    friend class SandboxLocks;
    Guard(SandboxLocks& locks, Entries::iterator entry) : locks_(&locks), entry_(entry) {}
    SandboxLocks* locks_ = nullptr;
    Entries::iterator entry_{};
  };

  SandboxLocks() = default;
  SandboxLocks(const SandboxLocks&) = delete;
  SandboxLocks& operator=(const SandboxLocks&) = delete;

  // Waits until no other Guard of `sandbox_id` exists. The map's own mutex is never held
  // while waiting, so waiting for one sandbox never delays a lock of another.
  Guard lock(const std::string& sandbox_id);
  // Ids with a holder or waiter (for tests: 0 once every guard is gone).
  std::size_t size() const;

 private:
  void release(Entries::iterator entry);

  mutable std::mutex mutex_;  // guards entries_ and every Entry::users
  Entries entries_;
};

}  // namespace agentfense::server
