#include "runtime/io_pump.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <vector>

#include "common/errors.h"

namespace agentfense::runtime {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr short kReadable = POLLIN | POLLHUP | POLLERR;
constexpr std::size_t kPumpedFds = 3;  // stdout, stderr, stdin: the first pollfds

// A command that exits without reading its stdin closes the pipe; the write then
// raises SIGPIPE, which would kill the whole supervisor. Block it around the write
// and swallow the one the write raised.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t sigpipe_only, previous;
  sigemptyset(&sigpipe_only);
  sigaddset(&sigpipe_only, SIGPIPE);
  // pthread_sigmask only fails for an invalid `how`.
  (void)::pthread_sigmask(SIG_BLOCK, &sigpipe_only, &previous);
  const ssize_t written = ::write(fd, data, size);
  const int saved_errno = errno;
  if (written < 0 && saved_errno == EPIPE) {
    const timespec no_wait{};
    // Returns -1/EAGAIN once nothing is pending: that is the loop's exit.
    while (::sigtimedwait(&sigpipe_only, nullptr, &no_wait) > 0) {
    }
  }
  (void)::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = saved_errno;
  return written;
}

int millis_until(const IoPump::Deadline& deadline) {
  if (!deadline) return -1;
  const auto left = *deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  // Round up so we never wake just before the deadline and spin.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

}  // namespace

void take_output(CapturedStream& captured, std::size_t limit,
                 const std::function<void(Stream, std::string_view)>& on_output, Stream which,
                 std::string_view chunk) {
  const std::size_t taken = std::min(limit - std::min(limit, captured.size), chunk.size());
  if (taken < chunk.size()) captured.truncated = true;
  if (taken == 0) return;
  captured.size += taken;
  if (on_output)
    on_output(which, chunk.substr(0, taken));
  else
    captured.data.append(chunk.substr(0, taken));
}

IoPump::IoPump(UniqueFd stdout_read, UniqueFd stderr_read, UniqueFd stdin_write,
               std::string stdin_data, std::size_t output_limit, OutputCallback on_output)
    : stdout_read_(std::move(stdout_read)),
      stderr_read_(std::move(stderr_read)),
      stdin_write_(std::move(stdin_write)),
      stdin_data_(std::move(stdin_data)),
      output_limit_(output_limit),
      on_output_(std::move(on_output)) {
  if (stdin_write_ && stdin_data_.empty()) stdin_write_.reset();  // immediate EOF
}

bool IoPump::pump_until_exit(int pidfd, Deadline deadline) {
  return pump_until_readable(std::span(&pidfd, 1), deadline).has_value();
}

std::optional<std::size_t> IoPump::pump_until_readable(std::span<const int> watched,
                                                       Deadline deadline) {
  for (;;) {
    const int timeout_ms = millis_until(deadline);
    if (timeout_ms == 0) return std::nullopt;
    if (const auto ready = poll_once(watched, timeout_ms)) return ready;
  }
}

void IoPump::drain() {
  stdin_write_.reset();  // the reader is gone; nothing more to feed
  while (stdout_read_ || stderr_read_) poll_once({}, -1);
}

void IoPump::drain_available() {
  // What was written before "done" fits in the pipe buffer (at most 1 MiB, the pipe
  // size limit); the bound keeps a background writer from holding us here forever.
  constexpr int kMaxReads = (1 << 20) / kReadChunk;
  for (int i = 0; i < kMaxReads && read_from(stdout_read_, Stream::kStdout); ++i) {
  }
  for (int i = 0; i < kMaxReads && read_from(stderr_read_, Stream::kStderr); ++i) {
  }
}

void IoPump::collect(ExecResult& result) {
  result.stdout_data = std::move(stdout_.data);
  result.stderr_data = std::move(stderr_.data);
  result.stdout_truncated = stdout_.truncated;
  result.stderr_truncated = stderr_.truncated;
}

std::optional<std::size_t> IoPump::poll_once(std::span<const int> watched, int timeout_ms) {
  // poll() skips negative fds, so closed pipes simply drop out.
  std::vector<pollfd> fds = {{stdout_read_.get(), POLLIN, 0},
                             {stderr_read_.get(), POLLIN, 0},
                             {stdin_write_.get(), POLLOUT, 0}};
  for (const int fd : watched) fds.push_back({fd, POLLIN, 0});
  const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
  if (ready < 0 && errno == EINTR) return std::nullopt;
  check_syscall(ready, "poll sandbox stdio");
  if (fds[0].revents & kReadable) read_from(stdout_read_, Stream::kStdout);
  if (fds[1].revents & kReadable) read_from(stderr_read_, Stream::kStderr);
  if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) write_stdin();
  for (std::size_t i = 0; i < watched.size(); ++i)
    if (fds[kPumpedFds + i].revents & kReadable) return i;
  return std::nullopt;
}

bool IoPump::read_from(UniqueFd& fd, Stream which) {
  if (!fd) return false;
  char buffer[kReadChunk];
  const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return errno == EINTR;
  if (got <= 0) {  // EOF, or an error that ends this stream the same way
    fd.reset();
    return false;
  }
  take_output(stream(which), output_limit_, on_output_, which,
              std::string_view(buffer, static_cast<std::size_t>(got)));
  return true;
}

void IoPump::write_stdin() {
  const std::size_t left = stdin_data_.size() - stdin_offset_;
  const ssize_t written =
      write_without_sigpipe(stdin_write_.get(), stdin_data_.data() + stdin_offset_, left);
  if (written < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    stdin_write_.reset();  // EPIPE: the command stopped reading; the rest is discarded
    return;
  }
  stdin_offset_ += static_cast<std::size_t>(written);
  if (stdin_offset_ == stdin_data_.size()) stdin_write_.reset();  // EOF for the command
}

}  // namespace agentfense::runtime
