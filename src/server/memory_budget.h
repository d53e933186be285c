// Bytes that calls answering in one message (ReadSandboxFile) may hold at once, server
// wide. Each read is bounded (64 MiB), but nothing bounded how many ran: twelve reads of
// a 63 MiB file took the server from 31 MB to 1.5 GB, and about 180 would have used up
// the host. A call that does not fit is refused at once (RESOURCE_EXHAUSTED, retry
// later) rather than queued: its caller holds a thread either way.
// Unary exec results (Exec, SessionExec) have one too: there the output is only known once
// the command ran, so a new exec is refused up front while the budget is spent
// (check_room), and a finished result is charged whatever it holds (hold_anyway): a
// command that already ran never loses its output to the budget.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace agentfense::server {

class MemoryBudget {
 public:
  // `holding` says what the budget holds, for the refusal: "of files for other reads".
  MemoryBudget(std::int64_t bytes, std::string holding)
      : left_(bytes), total_(bytes), holding_(std::move(holding)) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Throws ApiError(RESOURCE_EXHAUSTED) for `what` while nothing is left.
  void check_room(const std::string& what);

  // Held by one call; gives its bytes back when destroyed.
  class Grant {
   public:
    Grant(MemoryBudget& budget, std::string what) : budget_(budget), what_(std::move(what)) {}
    Grant(const Grant&) = delete;
    Grant& operator=(const Grant&) = delete;
    ~Grant() { budget_.give_back(held_); }
    // Raises what this call holds to `bytes`; throws ApiError(RESOURCE_EXHAUSTED) when the
    // server is holding too much for others already.
    void hold(std::int64_t bytes);
    // Raises what this call holds to `bytes` even past the budget (a result already made).
    void hold_anyway(std::int64_t bytes);

   private:
    MemoryBudget& budget_;
    std::string what_;
    std::int64_t held_ = 0;
  };

 private:
  void give_back(std::int64_t bytes);
  [[noreturn]] void refuse(const std::string& what) const;  // with mu_ held

  std::mutex mu_;
  std::int64_t left_;
  const std::int64_t total_;
  const std::string holding_;
};

}  // namespace agentfense::server
