#include "server/sandbox_locks.h"

#include <utility>

namespace agentfense::server {

SandboxLocks::Guard::Guard(Guard&& other) noexcept
    : locks_(std::exchange(other.locks_, nullptr)), entry_(other.entry_) {}

SandboxLocks::Guard& SandboxLocks::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    unlock();
    locks_ = std::exchange(other.locks_, nullptr);
    entry_ = other.entry_;
  }
  return *this;
}

void SandboxLocks::Guard::unlock() {
  if (SandboxLocks* locks = std::exchange(locks_, nullptr)) locks->release(entry_);
}

SandboxLocks::Guard SandboxLocks::lock(const std::string& sandbox_id) {
  Entries::iterator entry;
  {
    const std::lock_guard guard(mutex_);
    entry = entries_.try_emplace(sandbox_id).first;
    ++entry->second.users;  // from here on the entry stays, even while we wait below
  }
  entry->second.mutex.lock();
  return Guard(*this, entry);
}

void SandboxLocks::release(Entries::iterator entry) {
  entry->second.mutex.unlock();
  const std::lock_guard guard(mutex_);
  if (--entry->second.users == 0) entries_.erase(entry);
}

std::size_t SandboxLocks::size() const {
  const std::lock_guard guard(mutex_);
  return entries_.size();
}

}  // namespace agentfense::server
