// The share of a transport's threads one principal may hold at once. A call holds its
// thread for as long as it runs (a command, a call waiting for a session, a follow, an
// upload stream), so without a share one tenant's slow calls held all of them and every
// other tenant's calls went unanswered. Past its share a principal's call is refused at
// once (RESOURCE_EXHAUSTED, QUOTA_EXCEEDED) rather than queued behind its own calls.
// Each transport has its own: the REST gateway's workers, the gRPC server's threads.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "server/principal.h"

namespace agentfense::server {

class PrincipalShare {
 public:
  // `per_principal` calls of one principal at once (0 = no limit), of a transport whose
  // calls are named `calls` ("REST requests") and whose threads `threads` ("the REST
  // workers") in the refusal.
  PrincipalShare(std::size_t per_principal, std::string calls, std::string threads)
      : per_principal_(per_principal), calls_(std::move(calls)), threads_(std::move(threads)) {}
  PrincipalShare(const PrincipalShare&) = delete;
  PrincipalShare& operator=(const PrincipalShare&) = delete;

  // One call of `principal` in flight while it lives (moved-from: none).
  class Held {
   public:
    ~Held();
    Held(Held&& other) noexcept
        : share_(std::exchange(other.share_, nullptr)), principal_(std::move(other.principal_)) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    Held& operator=(Held&&) = delete;

   private:
    friend class PrincipalShare;
    Held(PrincipalShare& share, std::string principal)
        : share_(&share), principal_(std::move(principal)) {}
    PrincipalShare* share_;
    std::string principal_;
  };

  // Throws ApiError(RESOURCE_EXHAUSTED) naming the share when `principal` already has
  // per_principal calls in flight.
  [[nodiscard]] Held take(const std::string& principal);

 private:
  const std::size_t per_principal_;
  const std::string calls_;
  const std::string threads_;
  std::mutex mu_;
  std::map<std::string, std::size_t> in_flight_;  // entries at 0 are erased
};

// Whom a call counts against in per-principal shares (these and MemoryBudget's): the
// caller's id, or "" (not counted) without a caller or for the local principal of a
// server without keys.
std::string share_holder(const PrincipalPtr& caller);

// Whom a call counts against in the server's memory budgets (memory_budget.h): the owner
// of the sandbox it uses ("owner team-a"), so that several keys acting for one owner
// share one share (each key had a half of its own: two keys of one tenant held all of
// it); the caller ("principal alice") for a sandbox without an owner (a codebase from
// before authentication); "" where share_holder() is.
std::string budget_holder(const PrincipalPtr& caller, const std::string& owner);

// One of `caller`'s share of `share` for a call of either transport: nothing without a
// share or a caller not counted (share_holder). Throws as PrincipalShare::take() does.
std::optional<PrincipalShare::Held> take_share(PrincipalShare* share, const PrincipalPtr& caller);

}  // namespace agentfense::server
