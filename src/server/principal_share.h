// The share of a transport's threads one tenant may hold at once. A call holds its
// thread for as long as it runs (a command, a call waiting for a session, a follow, an
// upload stream), so without a share one tenant's slow calls held all of them and every
// other tenant's calls went unanswered. Past its share a tenant's call is refused at
// once (RESOURCE_EXHAUSTED, QUOTA_EXCEEDED) rather than queued behind its own calls.
// Each transport has its own: the REST gateway's workers, the gRPC server's threads.
//
// A tenant is the owners its key acts for (share_holder below: all keys of one owner
// together), and its share (fair_share.h) is half the threads at most, and at most half
// of what the other tenants leave. (With a fixed half per key, two tenants, or two keys
// of one, each holding 512 stalled calls took all 1,024 gRPC threads, and every other
// tenant's gRPC call was refused for as long as they kept them.) Taken first come, the
// k-th tenant to fill its share got 1/2^k of the threads: ten tenants with stalled calls
// left none for an eleventh (seven of the 128 REST workers). So an eighth of the threads
// (reserve()) is never taken by a tenant that already holds kReserveFloor: each tenant
// holding fewer gets up to that many of them (one long call, a stream or a follow, and
// one more: with "none", a tenant watching one stream had every other call refused,
// sweep V, V6), and the threads run out only past an eighth of them in such tenants (64
// for gRPC, 8 for REST, beyond the three that fill their shares). Shares settle towards
// 1/(n+1) of the threads each as calls end and are taken again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "server/principal.h"

namespace agentfense::server {

class PrincipalShare {
 public:
  // Shares of a transport's `pool` threads (0 = no limit), whose calls are named `calls`
  // ("REST requests") and whose threads `threads` ("the REST workers") in the refusal.
  PrincipalShare(std::size_t pool, std::string calls, std::string threads)
      : pool_(pool), calls_(std::move(calls)), threads_(std::move(threads)) {}
  PrincipalShare(const PrincipalShare&) = delete;
  PrincipalShare& operator=(const PrincipalShare&) = delete;

  // One call of a tenant in flight while it lives (moved-from: none).
  class Held {
   public:
    ~Held();
    Held(Held&& other) noexcept
        : share_(std::exchange(other.share_, nullptr)), holder_(std::move(other.holder_)) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    Held& operator=(Held&&) = delete;

   private:
    friend class PrincipalShare;
    Held(PrincipalShare& share, std::string holder) : share_(&share), holder_(std::move(holder)) {}
    PrincipalShare* share_;
    std::string holder_;
  };

  // Throws ApiError(RESOURCE_EXHAUSTED) naming the share when `holder` (it names itself
  // in the refusal: "owner team-a") already has its share of calls in flight.
  [[nodiscard]] Held take(const std::string& holder);

  // The threads of `pool` a tenant that already holds kReserveFloor may not take: an
  // eighth, kept for tenants that hold fewer (up to kReserveFloor each).
  static constexpr std::int64_t reserve(std::int64_t pool) { return pool / 8; }
  static constexpr std::int64_t kReserveFloor = 2;

 private:
  const std::size_t pool_;
  const std::string calls_;
  const std::string threads_;
  std::mutex mu_;
  std::map<std::string, std::size_t> in_flight_;  // entries at 0 are erased
  std::size_t all_in_flight_ = 0;
};

// Whom a call counts against in the thread shares: the owners the caller acts for ("owner
// team-a", "owners a,b": every key acting for the same owners together), the caller
// itself for a key without owners ("principal ops"), or "" (not counted) without a
// caller or for the local principal of a server without keys.
std::string share_holder(const PrincipalPtr& caller);

// Whom the current call (current_caller()) counts against in the server's memory
// budgets (memory_budget.h): its tenant, share_holder(), as for the threads, whichever
// sandbox it uses. (Counted by the sandbox's owner, a key acting for two owners held a
// share under each: in an attack sweep, 228 MB of a 256 MiB budget, and another
// tenant's large create was refused: sweep X, X2.)
std::string caller_holder();

// One of the share of `caller`'s tenant (share_holder) of `share` for a call of either
// transport: nothing without a share or a caller not counted. Throws as
// PrincipalShare::take() does.
std::optional<PrincipalShare::Held> take_share(PrincipalShare* share, const PrincipalPtr& caller);

}  // namespace agentfense::server
