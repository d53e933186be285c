#include "runtime/docker/exec_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <vector>

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxQueuedStdin = 1 << 20;
constexpr short kReadable = POLLIN | POLLHUP | POLLERR;

int millis_until(const ExecStream::Deadline& deadline) {
  if (!deadline) return -1;
  const auto left = *deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  // Rounded up so the loop never wakes just before the deadline and spins.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

}  // namespace

ExecStream::ExecStream(HijackedStream stream)
    : socket_(std::move(stream.socket)), pending_(std::move(stream.pending)) {
  const int flags = static_cast<int>(check_syscall(::fcntl(socket_.get(), F_GETFL), "F_GETFL"));
  check_syscall(::fcntl(socket_.get(), F_SETFL, flags | O_NONBLOCK), "O_NONBLOCK");
}

void ExecStream::send_stdin(std::string_view data) {
  stdin_.append(data);
}

bool ExecStream::wants_to_write() const {
  return !stdin_closed_ && (stdin_sent_ < stdin_.size() || (close_stdin_ && stdin_source_ < 0));
}

std::optional<std::size_t> ExecStream::pump_until_readable(std::span<const int> watched,
                                                           Deadline deadline) {
  for (;;) {
    const int timeout_ms = millis_until(deadline);
    if (timeout_ms == 0) return std::nullopt;
    if (const auto ready = poll_once(watched, timeout_ms)) return ready;
  }
}

bool ExecStream::pump_until(const std::function<bool()>& done, Deadline deadline) {
  if (!pending_.empty()) deliver({});
  while (!done() && socket_) {
    const int timeout_ms = millis_until(deadline);
    if (timeout_ms == 0) break;
    poll_once({}, timeout_ms);
  }
  return done();
}

bool ExecStream::drain(Deadline deadline) {
  while (socket_) {
    const int timeout_ms = millis_until(deadline);
    if (timeout_ms == 0) return false;
    poll_once({}, timeout_ms);
  }
  return true;
}

void ExecStream::drain_available() {
  if (!pending_.empty()) deliver({});
  while (read_some()) {
  }
}

void ExecStream::deliver(std::string_view bytes) {
  if (!pending_.empty()) {  // first: what arrived with the upgrade response
    const std::string first = std::move(pending_);
    pending_.clear();
    deliver(first);
  }
  if (bytes.empty()) return;
  if (!raw_error_.empty()) {  // not frames any more: dockerd is explaining a failure
    raw_error_.append(bytes);
    return;
  }
  try {
    demux_.feed(bytes, [this](Stream which, std::string_view data) {
      if (sink_) sink_(which, data);
    });
  } catch (const MalformedStream& text) {
    raw_error_ = text.what();
  }
}

std::optional<std::size_t> ExecStream::poll_once(std::span<const int> watched, int timeout_ms) {
  if (!pending_.empty()) deliver({});
  const short socket_events = static_cast<short>(POLLIN | (wants_to_write() ? POLLOUT : 0));
  // Our own stdin is read only while little of it waits to be sent: a command that never
  // reads its stdin must not make us buffer all of ours.
  const bool forward = !stdin_closed_ && stdin_.size() - stdin_sent_ < kMaxQueuedStdin;
  std::vector<pollfd> fds = {{socket_.get(), socket_events, 0},
                             {forward ? stdin_source_ : -1, POLLIN, 0}};
  for (const int fd : watched) fds.push_back({fd, POLLIN, 0});
  const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
  if (ready < 0 && errno == EINTR) return std::nullopt;
  check_syscall(ready, "poll exec stream");
  if (fds[0].revents & POLLOUT) write_some();
  if (fds[0].revents & kReadable) read_some();
  if (fds[1].revents & kReadable) forward_some();
  for (std::size_t i = 0; i < watched.size(); ++i)
    if (fds[2 + i].revents & kReadable) return i;
  return std::nullopt;
}

bool ExecStream::read_some() {
  if (!socket_) return false;
  char buffer[kReadChunk];
  const ssize_t got = ::recv(socket_.get(), buffer, sizeof buffer, 0);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return errno == EINTR;
  if (got <= 0) {  // the end of the stream (or an error that ends it the same way)
    socket_.reset();
    return false;
  }
  deliver(std::string_view(buffer, static_cast<std::size_t>(got)));
  return true;
}

void ExecStream::write_some() {
  if (!socket_ || stdin_closed_) return;
  if (stdin_sent_ < stdin_.size()) {
    const ssize_t sent = ::send(socket_.get(), stdin_.data() + stdin_sent_,
                                stdin_.size() - stdin_sent_, MSG_NOSIGNAL);
    if (sent < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (sent < 0) {  // dockerd stopped reading (the process is gone): drop the rest
      stdin_closed_ = true;
      return;
    }
    stdin_sent_ += static_cast<std::size_t>(sent);
    if (stdin_sent_ == stdin_.size()) {
      stdin_.clear();
      stdin_sent_ = 0;
    }
  }
  if (stdin_sent_ == 0 && stdin_.empty() && close_stdin_ && stdin_source_ < 0) {
    // ENOTCONN once dockerd has closed its side: the end is already there.
    (void)::shutdown(socket_.get(), SHUT_WR);
    stdin_closed_ = true;
  }
}

void ExecStream::forward_some() {
  char buffer[kReadChunk];
  const ssize_t got = ::read(stdin_source_, buffer, sizeof buffer);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (got <= 0) {  // our stdin ended: so does the process's
    stdin_source_ = -1;
    close_stdin_ = true;
    return;
  }
  send_stdin(std::string_view(buffer, static_cast<std::size_t>(got)));
}

}  // namespace agentfense::runtime::docker
