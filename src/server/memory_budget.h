// Bytes that calls answering in one message (ReadSandboxFile) may hold at once, server
// wide. Each read is bounded (64 MiB), but nothing bounded how many ran: twelve reads of
// a 63 MiB file took the server from 31 MB to 1.5 GB, and about 180 would have used up
// the host. A call that does not fit is refused at once (RESOURCE_EXHAUSTED, retry
// later) rather than queued: its caller holds a thread either way.
// Unary exec results (Exec, SessionExec) have one too: there the output is only known once
// the command ran, so a new exec is refused up front while the budget is spent
// (check_room), and a finished result is charged whatever it holds (hold_anyway): a
// command that already ran never loses its output to the budget.
//
// Shares. A budget may also bound what one holder (a tenant: caller_holder() in
// principal_share.h) holds of it: else one tenant's results, held by a client that does
// not read them, spent it and every other tenant's execs were refused. A holder's share
// is `per_holder` at most, and at most half of what the other holders leave
// (fair_share.h), so holders never fill the budget together: n holders that each keep
// all they can settle at 1/(n+1) of it each, and as much is left for the next; taken in
// turn, half of what is left always stays free (bytes, unlike threads, run out only
// past a dozen tenants, at 64 KiB: a newcomer is admitted, with less room). (With a
// fixed half each, two tenants that kept re-sending calls whose answers they did not
// read held all of it, and every other tenant's execs were refused for as long as they
// did.) One holder alone gets `per_holder`, as before.
// A reserve: an eighth of a budget with shares is kept for holders that hold nothing of
// it yet. A holder already holding some (or running a capturing grant) is refused while
// no more than the reserve is left, and its capturing grants wait there (below) unless
// the grant began while its holder held nothing and ran no other. Without it, shares
// bounded what each holder is admitted to take, but not its slack (its oldest exec
// writes on past its share; a result already made is charged whatever it holds): two
// tenants' unread results of 32 MiB filled the budget, and a third tenant's execs were
// refused until those answers were cancelled (sweep V, V1). The reserve is entered only
// by a newcomer, and by the oldest capturing grant of all (below), so a newcomer finds
// at least the reserve less one exec's output.
//
// A unary exec's grant also grows while its command writes (capturing, unary_output.h):
// execs started together used to pass check_room together and each hold up to
// 2 x runtime.output_limit uncounted until they ended. A capturing grant waits while the
// budget or its holder's share is over its bound (wait_for_room), except the oldest
// capturing grant (the holder's oldest, for its share): the others wait for it, so waits
// among execs can never all block each other. For a grant of a holder that held some of
// the budget when it began, "over the budget" starts at the reserve (above). The oldest writes on
// while what is over the bound is other running execs' output. It waits while answers being sent
// fill the bound by themselves: those go as their callers read them (or are cancelled,
// send_watchdog.h), whatever the commands do (before, each exec became the oldest in
// turn and wrote all it had, its result then held until its slow caller read it: one
// tenant held 360 MB of a 256 MiB budget). Results that finished but are not being sent
// yet wait for the sync after their command, and that sync waits for their sandbox's
// running commands, which may be the oldest: so the oldest waits for those of its own
// sandbox (a grant's scope) only a while (kSettleWait); if they are still there then,
// what it writes past the bound is cut (Room::kCut: its result says truncated). Results
// of other tenants never make it wait (before, any tenant's finished result let the
// oldest exec of another tenant be cut: sweep U, U2); it writes on past them. Its own
// tenant's finished results in other sandboxes do, the same way, while they and its
// tenant's answers being sent fill its share (their syncs may wait for commands that
// wait for it; before, it wrote on past them, and a tenant's execs in several sandboxes
// each wrote all they had in turn, in the moment before the one before became an answer
// being sent: sweep V, V1). Before,
// execs running together in one sandbox each became the oldest in turn and all their
// results were held until the last ended: 24 execs of 32 MiB that each wrote a file
// took the server to 1.5 GB, and a tenant's 512 gRPC threads could have held 16 GB.
#pragma once

#include <chrono>
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
  // `per_holder`: the most one holder's grants hold at once (0: no shares). `free_up`
  // tells a holder past its share how it gets room back.
  MemoryBudget(std::int64_t bytes, std::string holding, std::int64_t per_holder = 0,
               std::string free_up = "retry once its answers were read")
      : left_(bytes),
        total_(bytes),
        per_holder_(per_holder),
        reserve_(per_holder > 0 ? bytes / 8 : 0),
        holding_(std::move(holding)),
        free_up_(std::move(free_up)) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Throws ApiError(RESOURCE_EXHAUSTED) for `what` while nothing is left, or nothing of
  // `holder`'s share (with `bytes`: while `bytes` more would not fit). A holder names
  // itself in the refusal ("owner team-a"); "" is a caller not counted (caller_holder()
  // in principal_share.h).
  void check_room(const std::string& what, const std::string& holder = "", std::int64_t bytes = 0);

  // How long the oldest capturing grant over a bound waits for finished results to be
  // sent before what it writes past the bound is cut.
  static constexpr std::chrono::seconds kSettleWait{2};

  // What a capturing grant does with output it is handed (wait_for_room).
  enum class Room { kKeep, kCut };

  // Held by one call of `holder`; gives its bytes back when destroyed.
  class Grant {
   public:
    // `scope`: the sandbox whose sync a finished result of this grant waits for.
    Grant(MemoryBudget& budget, std::string what, std::string holder = "", std::string scope = "")
        : budget_(budget),
          what_(std::move(what)),
          holder_(std::move(holder)),
          scope_(std::move(scope)) {}
    Grant(const Grant&) = delete;
    Grant& operator=(const Grant&) = delete;
    ~Grant();
    // Raises what this call holds to `bytes`; throws ApiError(RESOURCE_EXHAUSTED) when the
    // server is holding too much for others already.
    void hold(std::int64_t bytes);
    // Raises what this call holds to `bytes` even past the budget (a result already made).
    void hold_anyway(std::int64_t bytes);
    // Gives back what this call holds past `bytes` (copies of a reply, gone once it was
    // made into the answer).
    void lower_to(std::int64_t bytes);
    // Holds up to `more` bytes more, as much as the budget and the holder's share leave
    // now, and returns how many: for what an answer may make smaller to fit (the text
    // rendering of output that is not UTF-8).
    std::int64_t hold_up_to(std::int64_t more);

    // This grant grows as a command writes, until end_capturing() (or destruction), and
    // then holds a finished result until sending() (or destruction).
    void begin_capturing();
    void end_capturing();
    // What this grant holds is now an answer being sent: it goes back as its caller reads
    // it, not as commands run.
    void sending();
    // Before a capturing grant keeps more: blocks while the budget, or the holder's
    // share, holds more than its bound and this is not the oldest capturing grant (of
    // all; of the holder's, for the share), or while grants being sent hold all of the
    // bound by themselves, or until give_up() (asked at least every 50 ms, with the
    // budget locked: it must not use the budget) says to stop waiting. kCut: the oldest
    // waited kSettleWait for finished results that may wait for it (the header); what it
    // is handed is to be dropped. One call alone never waits for itself.
    Room wait_for_room(const std::function<bool()>& give_up);

   private:
    friend class MemoryBudget;
    MemoryBudget& budget_;
    std::string what_;
    std::string holder_;
    std::string scope_;
    std::int64_t held_ = 0;
    std::uint64_t ticket_ = 0;  // its place among capturing grants; 0: not capturing
    bool finished_ = false;     // counted as a finished result: captured, not yet sent
    bool sending_ = false;
    bool newcomer_ = false;  // began capturing while its holder held nothing and had no
                             // other capturing grant: it may use the reserve
  };

 private:
  // With mu_ held: throws unless `more` bytes fit for `holder` (0: whether any room).
  void check_fits(const std::string& what, const std::string& holder, std::int64_t more) const;
  // With mu_ held: `bytes` more (may be < 0) held by `grant`.
  void charge(const Grant& grant, std::int64_t bytes);
  // With mu_ held: `bytes` already charged now count as being sent (may be < 0).
  void count_sending(const std::string& holder, std::int64_t bytes);
  // With mu_ held: what a capturing grant does now (wait_for_room). kSettle: wait for
  // finished results to be sent, a while.
  enum class Verdict { kGo, kWait, kSettle };
  Verdict verdict_for(const Grant& grant) const;
  // With mu_ held: counts `grant` among finished results (+1) or no longer (-1).
  void count_finished(const Grant& grant, int delta);
  // Whether `holder` has a share: the budget has shares and the caller is counted.
  bool counted(const std::string& holder) const { return per_holder_ > 0 && !holder.empty(); }
  // With mu_ held: the most a counted `holder` may hold now (the header; may be < 0).
  std::int64_t share_of(const std::string& holder) const;
  // With mu_ held: what of left_ a holder may not take (the reserve, for a counted holder
  // that holds some already or has a capturing grant).
  std::int64_t kept_from(const std::string& holder) const;
  std::int64_t held_by(const std::string& holder) const;  // with mu_ held

  std::mutex mu_;
  std::condition_variable given_back_;  // bytes were given back
  std::int64_t left_;
  const std::int64_t total_;
  const std::int64_t per_holder_;
  const std::int64_t reserve_;
  const std::string holding_;
  const std::string free_up_;
  std::map<std::string, std::int64_t> held_by_;          // counted holders; entries at 0 erased
  std::int64_t sending_held_ = 0;                        // by grants being sent
  std::map<std::string, std::int64_t> sending_held_by_;  // the same by counted holder
  std::map<std::uint64_t, std::string> capturing_;       // ticket -> holder, oldest first
  std::map<std::string, int> finished_in_;  // results captured, not yet being sent, by scope
  std::map<std::string, std::int64_t> finished_held_by_;  // their bytes by counted holder
  std::uint64_t next_ticket_ = 1;
};

}  // namespace agentfense::server
