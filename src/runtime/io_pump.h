// The parent's side of the command's stdio: one poll() loop that feeds stdin, reads
// stdout and stderr into separate buffers (never interleaved), enforces the per-stream
// output cap and watches the child's pidfd and the deadline. Reading continues past
// the cap (the bytes are dropped) so a chatty command never blocks on a full pipe.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "runtime/exec.h"

namespace agentfense::runtime {

struct CapturedStream {
  std::string data;      // what was kept: nothing when it went to an output callback
  std::size_t size = 0;  // bytes kept or handed on, against the output limit
  bool truncated = false;
};

// Takes `chunk` of one stream under the per-stream `limit` (beyond it bytes are dropped
// and the stream is flagged truncated). What is taken goes to `on_output` when there is
// one, else is kept in `captured.data`: a caller that streams the output (or keeps it
// itself, charged: the server's unary execs) must not have the server hold a second
// copy of up to `limit` per stream while the command runs.
void take_output(CapturedStream& captured, std::size_t limit,
                 const std::function<void(Stream, std::string_view)>& on_output, Stream which,
                 std::string_view chunk);

class IoPump {
 public:
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;
  using OutputCallback = std::function<void(Stream, std::string_view)>;

  // Invalid fds are simply not pumped (inherit_stdio, or no stdin data).
  IoPump(UniqueFd stdout_read, UniqueFd stderr_read, UniqueFd stdin_write, std::string stdin_data,
         std::size_t output_limit, OutputCallback on_output);

  // Moves data until `pidfd` becomes readable (the child exited: true) or the deadline
  // passes (false).
  bool pump_until_exit(int pidfd, Deadline deadline);

  // Moves data until one of `watched` becomes readable (returns its index) or the
  // deadline passes (nullopt). Negative fds are never ready.
  std::optional<std::size_t> pump_until_readable(std::span<const int> watched, Deadline deadline);

  // Reads whatever is left until every writer has closed. Call once the whole tree is
  // dead, so EOF is certain.
  void drain();

  // Reads what the pipes hold right now, without waiting for more or for EOF: once a
  // writer has reported that it is done, everything it wrote before is in the pipes.
  void drain_available();

  CapturedStream& stream(Stream which) { return which == Stream::kStdout ? stdout_ : stderr_; }

  // Moves the captured output and truncation flags into `result`.
  void collect(ExecResult& result);

 private:
  // One poll round over the open pipes + `watched`; returns the first watched index
  // that is readable.
  std::optional<std::size_t> poll_once(std::span<const int> watched, int timeout_ms);
  // Returns false when nothing was read (would block, EOF or error).
  bool read_from(UniqueFd& fd, Stream which);
  void write_stdin();

  UniqueFd stdout_read_, stderr_read_, stdin_write_;
  std::string stdin_data_;
  std::size_t stdin_offset_ = 0;
  std::size_t output_limit_;
  OutputCallback on_output_;
  CapturedStream stdout_, stderr_;
};

}  // namespace agentfense::runtime
