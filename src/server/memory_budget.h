// Bytes that calls answering in one message (ReadSandboxFile) may hold at once, server
// wide. Each read is bounded (64 MiB), but nothing bounded how many ran: twelve reads of
// a 63 MiB file took the server from 31 MB to 1.5 GB, and about 180 would have used up
// the host. A call that does not fit is refused at once (RESOURCE_EXHAUSTED, retry
// later) rather than queued: its caller holds a thread either way.
// Unary exec results (Exec, SessionExec) have one too: there the output is only known once
// the command ran, so a new exec is refused up front while the budget is spent
// (check_room), and a finished result is charged whatever it holds (hold_anyway): a
// command that already ran never loses its output to the budget.
// A budget may also bound what one principal holds of it (per_principal, as the thread
// shares of principal_share.h do): else one tenant's results, held by a client that does
// not read them, spent it and every other tenant's execs were refused.
// A unary exec's grant also grows while its command writes (capturing, unary_output.h):
// execs started together used to pass check_room together and each hold up to 2 x
// runtime.output_limit uncounted until they ended. A capturing grant waits while the
// budget or its principal's share is over its bound (wait_for_room), except the oldest
// capturing grant (the principal's oldest, for its share), which proceeds as long as
// what is over the bound is other execs' output: they wait for it (a finished command's
// result waits for the sync after it, which waits for the sandbox's running commands),
// so waits among execs can never all block each other. It waits too while answers being
// sent fill the bound by themselves: those go as their callers read them, whatever the
// commands do. (Before, each exec became the oldest in turn and wrote all it had, its
// result then held until its slow caller read it: one tenant held 360 MB of a 256 MiB
// budget and other tenants' execs were refused.)
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace agentfense::server {

class MemoryBudget {
 public:
  // `holding` says what the budget holds, for the refusal: "of files for other reads".
  // `per_principal`: the most one principal's grants hold at once (0: no share).
  MemoryBudget(std::int64_t bytes, std::string holding, std::int64_t per_principal = 0)
      : left_(bytes), total_(bytes), per_principal_(per_principal), holding_(std::move(holding)) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Throws ApiError(RESOURCE_EXHAUSTED) for `what` while nothing is left, or nothing of
  // `principal`'s share ("": a caller not counted, share_holder() in principal_share.h).
  void check_room(const std::string& what, const std::string& principal = "");

  // Held by one call of `principal`; gives its bytes back when destroyed.
  class Grant {
   public:
    Grant(MemoryBudget& budget, std::string what, std::string principal = "")
        : budget_(budget), what_(std::move(what)), principal_(std::move(principal)) {}
    Grant(const Grant&) = delete;
    Grant& operator=(const Grant&) = delete;
    ~Grant();
    // Raises what this call holds to `bytes`; throws ApiError(RESOURCE_EXHAUSTED) when the
    // server is holding too much for others already.
    void hold(std::int64_t bytes);
    // Raises what this call holds to `bytes` even past the budget (a result already made).
    void hold_anyway(std::int64_t bytes);

    // This grant grows as a command writes, until end_capturing() (or destruction).
    void begin_capturing();
    void end_capturing();
    // What this grant holds is now an answer being sent: it goes back as its caller reads
    // it, not as commands run.
    void sending();
    // Blocks while the budget, or the principal's share, holds more than its bound and
    // this is not the oldest capturing grant (of all; of the principal's, for the share),
    // or while grants being sent hold all of the bound by themselves, or until
    // give_up() (asked at least every 50 ms, with the budget locked: it must not use the
    // budget) says to stop waiting. One call alone never waits for itself.
    void wait_for_room(const std::function<bool()>& give_up);

   private:
    MemoryBudget& budget_;
    std::string what_;
    std::string principal_;
    std::int64_t held_ = 0;
    std::uint64_t ticket_ = 0;  // its place among capturing grants; 0: not capturing
    bool sending_ = false;
  };

 private:
  // With mu_ held: throws unless `more` bytes fit for `principal` (0: whether any room).
  void check_fits(const std::string& what, const std::string& principal, std::int64_t more) const;
  // With mu_ held; `bytes` may be < 0. `sending`: bytes of a grant being sent.
  void charge(const std::string& principal, std::int64_t bytes, bool sending);
  // With mu_ held: `bytes` already charged now count as being sent (may be < 0).
  void count_sending(const std::string& principal, std::int64_t bytes);
  // With mu_ held: whether a capturing grant must wait (wait_for_room).
  bool must_wait(const std::string& principal, std::uint64_t ticket) const;
  std::int64_t held_by(const std::string& principal) const;  // with mu_ held

  std::mutex mu_;
  std::condition_variable given_back_;  // bytes were given back
  std::int64_t left_;
  const std::int64_t total_;
  const std::int64_t per_principal_;
  const std::string holding_;
  std::map<std::string, std::int64_t> held_by_;          // counted principals; entries at 0 erased
  std::int64_t sending_held_ = 0;                        // by grants being sent
  std::map<std::string, std::int64_t> sending_held_by_;  // the same by counted principal
  std::map<std::uint64_t, std::string> capturing_;       // ticket -> principal, oldest first
  std::uint64_t next_ticket_ = 1;
};

}  // namespace agentfense::server
