// The share of the REST gateway's workers one principal may hold at once. A request holds
// its worker for as long as it runs (a command, a call waiting for a session, a follow),
// so without a share one tenant's slow calls held all of them and every other tenant's
// REST calls went unanswered. Past its share a principal's request is refused at once
// (RESOURCE_EXHAUSTED, QUOTA_EXCEEDED) rather than queued behind its own calls.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace agentfense::server {

class RestWorkerShare {
 public:
  // `per_principal` requests of one principal at once; 0 = no limit.
  explicit RestWorkerShare(std::size_t per_principal) : per_principal_(per_principal) {}
  RestWorkerShare(const RestWorkerShare&) = delete;
  RestWorkerShare& operator=(const RestWorkerShare&) = delete;

  // One request of `principal` in flight while it lives (moved-from: none).
  class Held {
   public:
    ~Held();
    Held(Held&& other) noexcept
        : share_(std::exchange(other.share_, nullptr)), principal_(std::move(other.principal_)) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    Held& operator=(Held&&) = delete;

   private:
    friend class RestWorkerShare;
    Held(RestWorkerShare& share, std::string principal)
        : share_(&share), principal_(std::move(principal)) {}
    RestWorkerShare* share_;
    std::string principal_;
  };

  // Throws ApiError(RESOURCE_EXHAUSTED) naming the share when `principal` already has
  // per_principal requests in flight.
  [[nodiscard]] Held take(const std::string& principal);

 private:
  const std::size_t per_principal_;
  std::mutex mu_;
  std::map<std::string, std::size_t> in_flight_;  // entries at 0 are erased
};

}  // namespace agentfense::server
