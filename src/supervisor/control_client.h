// Client of a live mount's control socket (layer/control_protocol.h): one request line
// out, one reply line back, on a connection kept open for any number of calls.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/control_protocol.h"

namespace agentfense::supervisor {

// The fs process answered {"ok":false,"error":...}; what() is its error text.
using ControlError = layer::control::Refused;

class ControlClient {
 public:
  // A reply longer than this fails the call (EMSGSIZE) instead of growing without bound:
  // the fs process bounds what its replies list (layer/listed_paths.h, render_diff), so
  // only a broken one sends more.
  static constexpr size_t kMaxReplyBytes = 256 << 20;

  // Connects; throws SystemError (e.g. ENOENT before the mount is ready).
  explicit ControlClient(const std::string& socket_path);

  // Sends `request` and returns the reply when it says "ok": true. Throws ControlError
  // for an "ok": false answer, SystemError on I/O failure, timeout or a malformed reply;
  // after a SystemError, or anything else thrown before the reply was read whole, the
  // connection is closed (a late answer would otherwise be read as the answer to the next
  // call) and later calls fail.
  layer::control::Reply call(const layer::control::Request& request,
                             std::chrono::milliseconds timeout);

  // How long call() waits for an answer that is real work (a commit of many files): until
  // `deadline` (the caller's), then, for as long as `still_alive()` says the fs process
  // still answers (busy, not hung), on in steps of `step`, but never past `cap`.
  struct Patience {
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point cap;
    std::chrono::milliseconds step{2000};
    std::function<bool()> still_alive;
    // Called with how many bytes of the reply arrived so far, each time more do, before
    // they are kept: a caller that counts the memory a reply takes (a diff of many MiB)
    // charges it here and throws to give up on it. The connection is then closed.
    std::function<void(std::size_t)> on_reply_bytes;
  };
  layer::control::Reply call(const layer::control::Request& request, const Patience& patience);

  // The transport alone: one line out (without its newline), the next line back. Throws
  // SystemError as call() does. For tests that speak the protocol by hand.
  std::string exchange(std::string_view line, std::chrono::milliseconds timeout);

 private:
  std::string exchange(std::string_view line, const Patience& patience);
  layer::control::Reply decode(const layer::control::Request& request, const std::string& line);
  // Each wait below moves patience.deadline on while the fs process is alive.
  std::string read_line(Patience& patience);
  void write_all(const std::string& data, Patience& patience);
  void wait_for(short events, Patience& patience);

  std::string path_;
  UniqueFd fd_;
  std::string buffered_;  // bytes received past the last response line
};

}  // namespace agentfense::supervisor
