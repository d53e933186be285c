#include "cli/mcp/http_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace agentfense::cli::mcp {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::seconds kReadWait{5};
constexpr std::chrono::seconds kWriteWait{5};
constexpr std::chrono::seconds kKeepAliveWait{5};
constexpr std::size_t kMaxRequests = 100;

bool wait_for(int fd, short events, std::chrono::milliseconds wait) {
  const Clock::time_point until = Clock::now() + wait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    pollfd one = {.fd = fd, .events = events};
    const int ready = ::poll(&one, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  if (rc != 0) return;
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  ip = text;
}

// What httplib reads a connection through. Its parser reads a byte at a time, so reads
// are buffered here, as httplib's own stream does.
class BoundedStream final : public httplib::Stream {
 public:
  explicit BoundedStream(int fd) : fd_(fd) {}

  void head_starts() {
    in_head_ = true;
    head_bytes_ = 0;
  }
  void head_ends() { in_head_ = false; }
  bool has_buffered() const { return buffered_ < filled_; }
  bool head_too_large() const { return head_too_large_; }
  bool closing = false;  // close_after_answer()

  bool is_readable() const override { return has_buffered() || wait_for(fd_, POLLIN, kReadWait); }
  bool is_writable() const override { return wait_for(fd_, POLLOUT, kWriteWait); }

  ssize_t read(char* out, std::size_t size) override {
    if (!has_buffered()) {
      if (!wait_for(fd_, POLLIN, kReadWait)) return -1;
      const ssize_t n = ::recv(fd_, buffer_, sizeof buffer_, 0);
      if (n <= 0) return n;
      buffered_ = 0;
      filled_ = static_cast<std::size_t>(n);
    }
    std::size_t n = std::min(size, filled_ - buffered_);
    if (in_head_) {
      if (head_bytes_ >= BoundedHttpServer::kMaxHeadBytes) {
        head_too_large_ = true;
        return -1;
      }
      n = std::min(n, BoundedHttpServer::kMaxHeadBytes - head_bytes_);
      head_bytes_ += n;
    }
    std::memcpy(out, buffer_ + buffered_, n);
    buffered_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* data, std::size_t size) override {
    if (!wait_for(fd_, POLLOUT, kWriteWait)) return -1;
    ssize_t n;
    do n = ::send(fd_, data, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, false, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  const int fd_;
  bool in_head_ = false;
  bool head_too_large_ = false;
  std::size_t head_bytes_ = 0;
  char buffer_[4096];
  std::size_t buffered_ = 0;  // bytes of buffer_ already handed out
  std::size_t filled_ = 0;    // bytes of buffer_ read from the socket
};

// The stream the calling thread serves (close_after_answer).
thread_local BoundedStream* current_stream = nullptr;

}  // namespace

void BoundedHttpServer::close_after_answer() {
  if (current_stream != nullptr) current_stream->closing = true;
}

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  BoundedStream stream(sock);
  current_stream = &stream;
  bool served = false;
  for (std::size_t left = kMaxRequests; left > 0; --left) {
    if (svr_sock_ == INVALID_SOCKET) break;  // the server is stopping
    if (left != kMaxRequests && !stream.has_buffered() && !wait_for(sock, POLLIN, kKeepAliveWait))
      break;
    stream.head_starts();
    bool closed = false;
    served = process_request(stream, left == 1, closed,
                             [&stream](httplib::Request&) { stream.head_ends(); });
    // A head cut off at the bound was answered 400 (httplib), or not at all; nothing
    // after it on this connection can be trusted to start a request.
    if (!served || closed || stream.closing || stream.head_too_large()) break;
  }
  current_stream = nullptr;
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return served;
}

}  // namespace agentfense::cli::mcp
