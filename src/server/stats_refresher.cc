#include "server/stats_refresher.h"

#include "common/log.h"

namespace agentfense::server {

StatsRefresher::StatsRefresher(Recount recount)
    : recount_(std::move(recount)), thread_([this] { loop(); }) {}

StatsRefresher::~StatsRefresher() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void StatsRefresher::mark(const std::string& codebase_id) {
  {
    const std::lock_guard lock(mu_);
    pending_.insert(codebase_id);
  }
  wake_.notify_one();
}

void StatsRefresher::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping and drained
    const std::string id = *pending_.begin();
    pending_.erase(pending_.begin());
    lock.unlock();
    try {
      recount_(id);
    } catch (const std::exception& error) {  // e.g. the codebase was deleted meanwhile
      log::debug("codebase.recount_skipped", {{"codebase_id", id}, {"error", error.what()}});
    }
    lock.lock();
  }
}

}  // namespace agentfense::server
