#include "supervisor/control_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>

namespace agentfense::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
}

}  // namespace

ControlClient::ControlClient(const std::string& socket_path) : path_(socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) {
    throw SystemError("control socket path '" + socket_path + "'", ENAMETOOLONG);
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fd_.reset(static_cast<int>(check_syscall(
      ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "control socket")));
  // A unix socket connect either completes or fails at once (EAGAIN: backlog full).
  check_syscall(::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
                "connect to " + socket_path);
}

std::string ControlClient::exchange(std::string_view line, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  return exchange(line, Patience{.deadline = deadline, .cap = deadline});
}

std::string ControlClient::exchange(std::string_view line, const Patience& patience) {
  if (!fd_) throw SystemError("control connection to " + path_ + " was closed", ENOTCONN);
  Patience waiting = patience;
  try {
    write_all(std::string(line) + "\n", waiting);
    return read_line(waiting);
  } catch (...) {  // I/O failed, or on_reply_bytes gave up: the reply's rest is unread
    fd_.reset();
    buffered_.clear();
    throw;
  }
}

layer::control::Reply ControlClient::call(const layer::control::Request& request,
                                          std::chrono::milliseconds timeout) {
  return decode(request, exchange(layer::control::encode_request(request), timeout));
}

layer::control::Reply ControlClient::call(const layer::control::Request& request,
                                          const Patience& patience) {
  return decode(request, exchange(layer::control::encode_request(request), patience));
}

layer::control::Reply ControlClient::decode(const layer::control::Request& request,
                                            const std::string& line) {
  try {
    return layer::control::decode_reply(request.op, line);
  } catch (const layer::control::ProtocolError& error) {
    // Whatever the fs process meant, the connection no longer pairs requests and replies.
    fd_.reset();
    buffered_.clear();
    throw SystemError(std::string(error.what()) + " from " + path_, EPROTO);
  }
}

void ControlClient::wait_for(short events, Patience& patience) {
  pollfd pfd{fd_.get(), events, 0};
  while (true) {
    const int rc = ::poll(&pfd, 1, remaining_ms(patience.deadline));
    if (rc < 0 && errno == EINTR) continue;
    check_syscall(rc, "poll control socket " + path_);
    if (rc > 0) return;  // ready, or an error/hangup the following send/recv reports
    // A slow answer from a live fs process is waited for; a hung one is given up on.
    if (Clock::now() >= patience.cap || !patience.still_alive || !patience.still_alive())
      throw SystemError("control request to " + path_, ETIMEDOUT);
    patience.deadline = std::min(Clock::now() + patience.step, patience.cap);
  }
}

void ControlClient::write_all(const std::string& data, Patience& patience) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      wait_for(POLLOUT, patience);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    check_syscall(n, "send to control socket " + path_);
    sent += static_cast<size_t>(n);
  }
}

std::string ControlClient::read_line(Patience& patience) {
  size_t searched = 0;  // bytes of buffered_ known to hold no newline
  while (true) {
    if (const size_t newline = buffered_.find('\n', searched); newline != std::string::npos) {
      if (newline + 1 == buffered_.size()) {  // the usual case: no copy of a large reply
        std::string line = std::move(buffered_);
        buffered_.clear();
        line.pop_back();
        return line;
      }
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    searched = buffered_.size();
    if (buffered_.size() > kMaxReplyBytes) {
      throw SystemError("control reply from " + path_ + " longer than " +
                            std::to_string(kMaxReplyBytes >> 20) + " MiB",
                        EMSGSIZE);
    }
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EAGAIN) {
      wait_for(POLLIN, patience);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    check_syscall(n, "receive from control socket " + path_);
    if (n == 0) throw SystemError("control socket " + path_ + " closed by the fs process", EPIPE);
    if (patience.on_reply_bytes) patience.on_reply_bytes(buffered_.size() + static_cast<size_t>(n));
    buffered_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace agentfense::supervisor
