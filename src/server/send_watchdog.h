// A deadline on what gRPC's synchronous server sends. A send waits for as long as the
// client keeps its HTTP/2 window closed, and a client that answers pings but reads
// nothing is never dropped: an ExecStream's Write then blocked the loop that also
// enforces the command's timeout (the command ran on past it, and its sandbox could be
// neither discarded nor destroyed), and unary answers of 32 MiB stayed unsent with their
// output budget held for good (sweep S: two tenants held all 256 MiB, every other
// tenant's exec was refused). The watchdog cancels (ServerContext::TryCancel) a call whose
// send has not completed by its deadline; the blocked send then fails as it does for a
// client that went away. REST has the same through its write timeout and its answers'
// minimum rate (rest_connection.h).
#pragma once

#include <grpcpp/server_context.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace agentfense::server {

class SendWatchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // A stream's message not taken by its client within this is a stalled client.
  static constexpr std::chrono::seconds kStalledMessage{10};
  // An answer of one message has its own deadline (answer_deadline.h).

  SendWatchdog();
  ~SendWatchdog();  // stops and joins its thread
  SendWatchdog(const SendWatchdog&) = delete;
  SendWatchdog& operator=(const SendWatchdog&) = delete;

  // While it lives, the call of `context` is cancelled once `deadline` passes.
  class Armed {
   public:
    Armed() = default;
    Armed(Armed&& other) noexcept
        : watchdog_(std::exchange(other.watchdog_, nullptr)), id_(other.id_) {}
    Armed& operator=(Armed&& other) noexcept;
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
    ~Armed() { disarm(); }

   private:
    friend class SendWatchdog;
    Armed(SendWatchdog* watchdog, std::uint64_t id) : watchdog_(watchdog), id_(id) {}
    void disarm();
    SendWatchdog* watchdog_ = nullptr;
    std::uint64_t id_ = 0;
  };
  // `context` must outlive the returned Armed (a handler's own context does).
  [[nodiscard]] Armed arm(grpc::ServerContext* context, Clock::time_point deadline);

 private:
  void run();

  std::mutex mu_;  // held while cancelling, so a disarmed context is never touched
  std::condition_variable changed_;
  std::set<std::pair<Clock::time_point, std::uint64_t>> deadlines_;  // earliest first
  std::map<std::uint64_t, std::pair<Clock::time_point, grpc::ServerContext*>> armed_;
  std::uint64_t next_id_ = 1;
  // When the thread wakes next; with nothing armed, every kIdleTick (any deadline is
  // further away than that, so arming one rarely needs to wake it).
  static constexpr std::chrono::seconds kIdleTick{1};
  Clock::time_point wake_at_ = Clock::time_point::min();
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace agentfense::server
