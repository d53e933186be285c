// MCP progress notifications for long tool calls: when a request carries
// `_meta.progressToken`, `notifications/progress` goes out about once a second while the
// call runs, with a progress value that only increases (seconds elapsed), the total when
// the call has a timeout, and a one-line message for a person watching.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace agentfense::cli::mcp {

// Sends one notification to the client of the call; may be empty (nowhere to send).
using Notify = std::function<void(const nlohmann::json& notification)>;

class ProgressReporter {
 public:
  ProgressReporter() = default;
  ProgressReporter(nlohmann::json token, Notify notify)
      : token_(std::move(token)), notify_(std::move(notify)) {}

  bool wanted() const { return !token_.is_null() && notify_ != nullptr; }
  void report(double progress, double total, const std::string& message) const;

 private:
  nlohmann::json token_;
  Notify notify_;
};

// While alive, reports elapsed seconds every `interval` (a thread of its own), with
// `describe()` as the message. Does nothing when the reporter is not wanted.
class ProgressTicker {
 public:
  ProgressTicker(const ProgressReporter& reporter, double total_seconds,
                 std::function<std::string()> describe,
                 std::chrono::milliseconds interval = std::chrono::seconds(1));
  ProgressTicker(const ProgressTicker&) = delete;
  ProgressTicker& operator=(const ProgressTicker&) = delete;
  ~ProgressTicker();

 private:
  void loop();

  const ProgressReporter& reporter_;
  const double total_;
  const std::function<std::string()> describe_;
  const std::chrono::milliseconds interval_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace agentfense::cli::mcp
