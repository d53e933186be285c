// The server's end of one attached exec: a socket that dockerd upgraded to a raw stream.
// Reading demultiplexes stdout/stderr to a sink; writing sends the process's stdin (then
// half-closes the socket, which dockerd passes on as EOF). One poll loop also watches
// other fds (the process's pidfd, a cancel fd) and a deadline, like IoPump for pipes.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "runtime/docker/engine_client.h"
#include "runtime/docker/stream_demux.h"

namespace agentfense::runtime::docker {

class ExecStream {
 public:
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  explicit ExecStream(HijackedStream stream);
  ExecStream(ExecStream&&) = default;
  ExecStream(const ExecStream&) = delete;

  // Where demultiplexed output goes from now on.
  void set_sink(StreamDemux::Sink sink) { sink_ = std::move(sink); }

  // Appends to what is sent as the process's stdin.
  void send_stdin(std::string_view data);
  // Half-closes the stream once everything queued is sent: the process reads EOF.
  void close_stdin() { close_stdin_ = true; }
  // Forwards `fd`'s bytes as stdin as they come (`agentfense run` passing its own stdin
  // on), then closes stdin at `fd`'s EOF.
  void forward_stdin_from(int fd) { stdin_source_ = fd; }

  // Moves data until one of `watched` is readable (returns its index) or the deadline
  // passes (nullopt). Negative fds are never ready. The end of the stream does not end
  // the wait (ended() tells).
  std::optional<std::size_t> pump_until_readable(std::span<const int> watched, Deadline deadline);
  // Moves data until `done()` holds (true), the stream ends or the deadline passes
  // (false unless done() holds by then).
  bool pump_until(const std::function<bool()>& done, Deadline deadline);
  // Reads until dockerd ends the stream or the deadline passes; true at the end.
  bool drain(Deadline deadline);
  // Reads what has arrived, without waiting for more.
  void drain_available();

  bool ended() const { return !socket_; }
  // Everything queued for stdin went out and stdin was closed as asked.
  bool stdin_sent() const {
    return stdin_closed_ || (!close_stdin_ && stdin_sent_ == stdin_.size());
  }
  // Plain text dockerd sent instead of frames (an exec that failed to start), if any.
  const std::string& raw_error() const { return raw_error_; }

 private:
  std::optional<std::size_t> poll_once(std::span<const int> watched, int timeout_ms);
  bool read_some();  // false when nothing was read (would block or the stream ended)
  void write_some();
  void forward_some();
  void deliver(std::string_view bytes);
  bool wants_to_write() const;

  UniqueFd socket_;
  std::string pending_;  // stream bytes that came with the upgrade response
  StreamDemux demux_;
  StreamDemux::Sink sink_;
  std::string stdin_;
  std::size_t stdin_sent_ = 0;
  bool close_stdin_ = false;
  bool stdin_closed_ = false;
  int stdin_source_ = -1;
  std::string raw_error_;
};

}  // namespace agentfense::runtime::docker
