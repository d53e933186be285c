#include "runtime/docker/session_link.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "common/bearer_token.h"
#include "common/errors.h"
#include "common/random_hex.h"

namespace agentfense::runtime::docker {
namespace {

constexpr std::size_t kMaxCandidates = 32;  // connections waiting to present a token
constexpr std::size_t kTokenBytes = 16;

// Runs on a thread of its own: setns() changes only the calling thread's network
// namespace, and the socket keeps the namespace it was created in after the thread ends.
void listen_in(const ContainerInit& init, UniqueFd& listener, int& port) {
  // Through the pidfd: the namespace of that very process, never of a later holder of
  // its pid.
  const std::string ns = "the network namespace of container init " + std::to_string(init.pid);
  check_syscall(::setns(init.pidfd, CLONE_NEWNET), "setns to " + ns);
  listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener) throw SystemError("socket in " + ns, errno);
  sockaddr_in address{.sin_family = AF_INET,
                      .sin_port = 0,
                      .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)},
                      .sin_zero = {}};
  check_syscall(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address),
                "bind 127.0.0.1 in " + ns);
  check_syscall(::listen(listener.get(), static_cast<int>(kMaxCandidates)), "listen in " + ns);
  socklen_t length = sizeof address;
  check_syscall(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length),
                "getsockname");
  port = ntohs(address.sin_port);
}

int millis_until(SessionLink::Clock::time_point deadline) {
  const auto left = deadline - SessionLink::Clock::now();
  if (left <= SessionLink::Clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

constexpr int kChannel = -1;  // the role of the connection that carries commands

// Which of the shell's connections a token line opens: kChannel, 0 (stdout) or 1
// (stderr); nullopt when it is not one of the shell's.
std::optional<int> role_of(std::string_view line, std::string_view token) {
  if (line.size() == token.size())
    return same_token(line, token) ? std::optional<int>(kChannel) : std::nullopt;
  const std::string_view role = line.substr(std::min(line.size(), token.size()));
  if (!same_token(line.substr(0, token.size()), token)) return std::nullopt;
  if (role == " 1") return 0;
  if (role == " 2") return 1;
  return std::nullopt;
}

}  // namespace

SessionLink SessionLink::listen(const ContainerInit& init) {
  UniqueFd listener;
  int port = 0;
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      listen_in(init, listener, port);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
  return SessionLink(std::move(listener), port, random_hex(kTokenBytes));
}

void SessionLink::accept_shell(Clock::time_point deadline) {
  struct Candidate {
    UniqueFd fd;
    std::string line;
  };
  std::vector<Candidate> candidates;
  const auto all_connected = [this] { return connection_ && outputs_[0].fd && outputs_[1].fd; };
  // The longest token line: "<token> 1\n".
  const std::size_t longest_line = token_.size() + 3;
  while (!all_connected()) {
    std::vector<pollfd> fds = {{listener_.get(), POLLIN, 0}};
    for (const Candidate& c : candidates) fds.push_back({c.fd.get(), POLLIN, 0});
    const int timeout_ms = millis_until(deadline);
    if (timeout_ms == 0) throw SystemError("the session shell did not connect", ETIMEDOUT);
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    check_syscall(ready, "poll session listener");
    for (std::size_t i = candidates.size(); i-- > 0;) {
      if (!(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Candidate& c = candidates[i];
      char chunk[64];
      const ssize_t got = ::recv(c.fd.get(), chunk, sizeof chunk, 0);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got > 0) c.line.append(chunk, static_cast<std::size_t>(got));
      const auto newline = c.line.find('\n');
      const bool complete = newline != std::string::npos;
      const std::optional<int> role =
          complete ? role_of(std::string_view(c.line).substr(0, newline), token_) : std::nullopt;
      // What follows the line is the channel's first report or the first output.
      const std::string_view rest = std::string_view(c.line).substr(complete ? newline + 1 : 0);
      if (role == kChannel && !connection_) {
        connection_ = std::move(c.fd);
        buffer_.append(rest);
      } else if (role && *role != kChannel && !outputs_.at(*role).fd) {
        outputs_.at(*role) = {std::move(c.fd), std::string(rest)};
      } else if (!complete && got > 0 && c.line.size() <= longest_line) {
        continue;  // the line is still coming
      }
      // Taken, or not the shell: a wrong token, a role already connected, a line too
      // long to be one, or a connection that closed.
      candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (all_connected() || !(fds[0].revents & POLLIN)) continue;
    UniqueFd accepted(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!accepted) continue;  // EAGAIN: the connection went away again
    if (candidates.size() == kMaxCandidates) candidates.erase(candidates.begin());
    candidates.push_back({std::move(accepted), {}});
  }
  listener_.reset();  // nobody connects after the shell
}

void SessionLink::send(const std::string& frame, Clock::time_point deadline) const {
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n =
        ::send(connection_.get(), frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) throw SystemError("send to the session shell", errno);
    pollfd writable{.fd = connection_.get(), .events = POLLOUT, .revents = 0};
    const int timeout_ms = millis_until(deadline);
    if (timeout_ms == 0 || ::poll(&writable, 1, timeout_ms) == 0)
      throw SystemError("the session shell does not read its commands", ETIMEDOUT);
  }
}

std::optional<StatusMessage> SessionLink::receive() {
  for (;;) {
    // Only the shell can write here: what is not a report is skipped.
    if (auto message = buffer_.take()) return message;
    if (closed_) return std::nullopt;
    char chunk[4096];
    const ssize_t got = ::recv(connection_.get(), chunk, sizeof chunk, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) return std::nullopt;
    if (got <= 0) {
      closed_ = true;
      return std::nullopt;
    }
    buffer_.append(std::string_view(chunk, static_cast<std::size_t>(got)));
  }
}

}  // namespace agentfense::runtime::docker
