#include "server/rest_connection.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "server/rest_connection_pool.h"

namespace agentfense::server {
namespace {

using Clock = std::chrono::steady_clock;

// How often a wait looks whether the server is stopping: a stop waits for every
// connection's worker, and a client that sends nothing must not hold it for a deadline.
constexpr std::chrono::milliseconds kStopCheck{100};

// When a wait ends, asked again at each step of it: a send's deadline moves while its
// client takes bytes.
using Deadline = std::function<Clock::time_point()>;

// Waits for `events` on `fd` until `until()`: false at the deadline, once `listener` is
// closed (the server stops), or on a poll error (a hung-up socket reports ready; the read
// or write that follows sees the end).

bool wait_for(int fd, short events, const Deadline& until, const std::atomic<socket_t>& listener) {
  for (;;) {
    if (listener == INVALID_SOCKET) return false;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until() - Clock::now()).count();
    if (left <= 0) return false;
    pollfd ready{.fd = fd, .events = events, .revents = 0};
    const int n =
        ::poll(&ready, 1, static_cast<int>(std::min<std::int64_t>(left, kStopCheck.count())));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// One connection's socket, plain or TLS (`ssl` set), read and written without blocking.
class Socket {
 public:
  Socket(int fd, SSL* ssl, const std::atomic<socket_t>& listener)
      : fd_(fd), ssl_(ssl), listener_(listener) {}

  int fd() const { return fd_; }
  // Bytes of the connection the client's side has acknowledged so far: what was handed
  // to the kernel less what it still holds (SIOCOUTQ). The kernel takes megabytes of an
  // answer into its buffers before a client reads any, and a TLS write of a whole answer
  // returns only once all of it is in them: counted here as the socket's bytes, records
  // and all, it shows what the client took while such a write still waits.
  std::uint64_t acknowledged() const {
    const std::uint64_t sent = ssl_ != nullptr ? BIO_number_written(SSL_get_wbio(ssl_)) : sent_;
    int queued = 0;
    if (::ioctl(fd_, SIOCOUTQ, &queued) != 0 || queued < 0) queued = 0;
    return sent > static_cast<std::uint64_t>(queued) ? sent - static_cast<std::uint64_t>(queued)
                                                     : 0;
  }
  // TLS may hold decrypted bytes that the socket no longer shows as readable.
  bool wait_readable(Clock::time_point until) const {
    return (ssl_ != nullptr && SSL_pending(ssl_) > 0) ||
           wait_for(fd_, POLLIN, fixed(until), listener_);
  }
  bool wait_writable(const Deadline& until) const {
    return wait_for(fd_, POLLOUT, until, listener_);
  }

  ssize_t read(char* buffer, std::size_t size, Clock::time_point until_time) {
    const Deadline until = fixed(until_time);
    const int chunk = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
    for (;;) {
      if (ssl_ != nullptr) {
        ERR_clear_error();  // SSL_get_error reads this thread's queue
        const int n = SSL_read(ssl_, buffer, chunk);
        if (n > 0) return n;
        const int error = SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_ZERO_RETURN) return 0;
        if (!wait_for_tls(error, until)) return -1;
        continue;
      }
      const ssize_t n = ::recv(fd_, buffer, static_cast<std::size_t>(chunk), 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(fd_, POLLIN, until, listener_))
        return -1;
    }
  }

  ssize_t write(const char* data, std::size_t size, const Deadline& until) {
    if (size == 0) return 0;
    const int chunk = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
    for (;;) {
      if (ssl_ != nullptr) {
        ERR_clear_error();
        // Retried with the same arguments after WANT_*, as OpenSSL requires.
        const int n = SSL_write(ssl_, data, chunk);
        if (n > 0) return n;
        if (!wait_for_tls(SSL_get_error(ssl_, n), until)) return -1;
        continue;
      }
      // MSG_NOSIGNAL: a client that went away is an error here, not a SIGPIPE.
      const ssize_t n = ::send(fd_, data, static_cast<std::size_t>(chunk), MSG_NOSIGNAL);
      if (n > 0) sent_ += static_cast<std::uint64_t>(n);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(fd_, POLLOUT, until, listener_))
        return -1;
    }
  }

  bool accept_tls(Clock::time_point until) {
    for (;;) {
      ERR_clear_error();
      const int result = SSL_accept(ssl_);
      if (result == 1) return true;
      if (!wait_for_tls(SSL_get_error(ssl_, result), fixed(until))) return false;
    }
  }

 private:
  // Waits for what OpenSSL asked for after a call that did not complete; false when it
  // failed for good or the deadline passed.
  bool wait_for_tls(int error, const Deadline& until) const {
    if (error == SSL_ERROR_WANT_READ) return wait_for(fd_, POLLIN, until, listener_);
    if (error == SSL_ERROR_WANT_WRITE) return wait_for(fd_, POLLOUT, until, listener_);
    return false;
  }

  static Deadline fixed(Clock::time_point until) {
    return [until] { return until; };
  }

  int fd_;
  SSL* ssl_;
  const std::atomic<socket_t>& listener_;
  std::uint64_t sent_ = 0;  // handed to the kernel (plain: TLS counts in its BIO)
};

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const int got = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
                       : ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  char host[NI_MAXHOST], service[NI_MAXSERV];
  if (got != 0 || ::getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host,
                                service, sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return;  // left empty, as httplib leaves them
  ip = host;
  port = std::atoi(service);
}

class DeadlineStream;
// The stream the calling worker serves (limit_request_body_wait).
thread_local DeadlineStream* current_stream = nullptr;

// What httplib reads and writes a connection through. Its request parser reads a byte at
// a time, so reads are buffered here as httplib's own stream buffers them.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(Socket& socket, const ConnectionTimeouts& timeouts)
      : socket_(socket), timeouts_(timeouts) {}

  // The head of the next request is due by `until`; head_done() once it was parsed.
  void head_due(Clock::time_point until) {
    head_until_ = until;
    head_bytes_ = 0;
  }
  void head_done() {
    head_until_.reset();
    body_start_ = Clock::now();
    body_bytes_ = 0;
    body_cap_.reset();
    body_too_slow_ = false;
    body_line_bytes_ = 0;
    body_line_too_long_ = false;
    answer_start_ = socket_.acknowledged();
    answer_waited_ = {};
  }
  void cap_body_wait(std::chrono::milliseconds wait) {
    const Clock::time_point until = Clock::now() + wait;
    if (!body_cap_ || until < *body_cap_) body_cap_ = until;
  }
  // A read of a head failed (its deadline passed, or the client went away): httplib
  // answers 400 and would wait for another request on the connection; there is none.
  // Nor after a body cut short: the rest of it would be read as the next head.
  bool read_failed() const { return head_failed_ || body_failed_ || close_after_; }
  bool body_too_slow() const { return body_too_slow_; }
  bool body_read_failed() const { return body_failed_; }
  bool body_line_too_long() const { return body_line_too_long_; }
  // The connection ends with a request's body not read to its end (refused, cut off):
  // its client may still be sending it.
  // (Not one whose framing was malformed past its bound: nothing to deliver there.)
  bool body_left_unread() const { return (close_after_ || body_too_slow_) && !body_line_too_long_; }
  // An answer was given up on (its client too slow, or gone).
  bool write_failed() const { return write_failed_; }
  // What is left of this request's body (if any) is not read: the connection ends with it.
  void close_after() { close_after_ = true; }

  bool has_buffered() const { return buffered_ < filled_; }
  bool is_readable() const override {
    return has_buffered() || socket_.wait_readable(read_until());
  }
  bool is_writable() const override {
    const bool writable =
        waiting_to_send([this](const Deadline& until) { return socket_.wait_writable(until); });
    if (!writable) write_failed_ = true;
    return writable;
  }

  ssize_t read(char* out, std::size_t size) override {
    if (buffered_ == filled_) {
      if (size >= sizeof buffer_ && !head_until_)
        return checked(socket_.read(out, size, read_until()));
      const ssize_t n = checked(socket_.read(buffer_, sizeof buffer_, read_until()));
      if (n <= 0) return n;
      buffered_ = 0;
      filled_ = static_cast<std::size_t>(n);
    }
    std::size_t n = std::min(size, filled_ - buffered_);
    if (head_until_) {
      // httplib reads a head from here a byte or a line at a time; the bound holds for it.
      if (head_bytes_ >= timeouts_.max_head_bytes) {
        head_failed_ = true;
        return -1;
      }
      n = std::min(n, timeouts_.max_head_bytes - head_bytes_);
      head_bytes_ += n;
    } else if (!body_read_allowed(size)) {
      return -1;
    }
    std::memcpy(out, buffer_ + buffered_, n);
    buffered_ += n;
    if (!head_until_) count_body_line(out, size);
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* data, std::size_t size) override {
    const ssize_t n =
        waiting_to_send([&](const Deadline& until) { return socket_.write(data, size, until); });
    if (n < 0) write_failed_ = true;
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(socket_.fd(), true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(socket_.fd(), false, ip, port);
  }
  socket_t socket() const override { return socket_.fd(); }

 private:
  ssize_t checked(ssize_t n) {
    if (n < 0 && head_until_) head_failed_ = true;
    if (n <= 0 && !head_until_) body_failed_ = true;  // an error, the deadline, or the end
    if (n < 0 && !head_until_ && Clock::now() >= body_until()) body_too_slow_ = true;
    if (n > 0 && !head_until_) body_bytes_ += static_cast<std::size_t>(n);
    return n;
  }
  // A body read that arrives without waiting must still end at a cap (a refused body):
  // only waits checked the deadline, and a client that kept sending was read on and on.
  // And a chunked body's framing (sizes, extensions, trailers) is read by httplib's line
  // reader a byte at a time, without bound: a size line that never ended grew the server
  // by all it sent (one connection: +500 MiB), before any credential was checked.
  bool body_read_allowed(std::size_t size) {
    if (body_cap_ && Clock::now() >= *body_cap_) {
      body_failed_ = body_too_slow_ = true;
      return false;
    }
    if (size == 1 && body_line_bytes_ >= timeouts_.max_head_bytes) {
      body_failed_ = body_line_too_long_ = true;
      return false;
    }
    return true;
  }
  // Data is read in larger pieces; one byte at a time is a framing line, until its '\n'.
  void count_body_line(const char* out, std::size_t size) {
    if (size != 1 || *out == '\n')
      body_line_bytes_ = 0;
    else
      ++body_line_bytes_;
  }
  Clock::time_point read_until() const {
    if (head_until_) return *head_until_;
    return std::min(Clock::now() + timeouts_.read, body_until());
  }
  // Runs `send` (a wait for room in the socket, or a write that may wait for it) with the
  // answer's deadline: the write timeout from when the client last took a byte, and the
  // answer's rate (every answer_min_rate bytes the client took buy one more second of
  // waiting after the grace). Both move while the wait goes on. (A wait once had the write
  // timeout from its start: Linux reports room only once the socket's queue drained to a
  // third, and a client taking 128 KiB/s from megabytes queued was reset after 5 s, the
  // answer of a command that had run lost.)
  template <typename Send>
  std::invoke_result_t<const Send&, const Deadline&> waiting_to_send(const Send& send) const {
    const Clock::time_point start = Clock::now();
    std::uint64_t taken = answer_taken();
    Clock::time_point took = start;
    const auto result = send(Deadline([&] {
      const std::uint64_t now_taken = answer_taken();
      if (now_taken > taken) {
        taken = now_taken;
        took = Clock::now();
      }
      const auto earned = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
          static_cast<double>(taken) / static_cast<double>(timeouts_.answer_min_rate)));
      return std::min(took + timeouts_.write,
                      start + timeouts_.answer_grace + earned - answer_waited_);
    }));
    answer_waited_ += Clock::now() - start;
    return result;
  }
  std::uint64_t answer_taken() const {
    const std::uint64_t acknowledged = socket_.acknowledged();
    return acknowledged > answer_start_ ? acknowledged - answer_start_ : 0;
  }
  // When the body's rate runs out: every body_min_rate bytes received buy one more second
  // after the grace.
  Clock::time_point body_until() const {
    const auto earned = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        static_cast<double>(body_bytes_) / static_cast<double>(timeouts_.body_min_rate)));
    const Clock::time_point until = body_start_ + timeouts_.body_grace + earned;
    return body_cap_ ? std::min(until, *body_cap_) : until;
  }

  Socket& socket_;
  const ConnectionTimeouts& timeouts_;
  std::optional<Clock::time_point> head_until_;
  std::size_t head_bytes_ = 0;  // of the current head, handed to httplib
  bool head_failed_ = false;
  bool body_failed_ = false;
  bool close_after_ = false;                   // close_after()
  bool body_too_slow_ = false;                 // body_failed_ because the body's rate ran out
  Clock::time_point body_start_{};             // when the current request's head ended
  std::size_t body_bytes_ = 0;                 // read from the socket since then
  std::size_t body_line_bytes_ = 0;            // of the framing line being read
  bool body_line_too_long_ = false;            // body_failed_ at max_head_bytes of one line
  std::optional<Clock::time_point> body_cap_;  // limit_request_body_wait
  std::uint64_t answer_start_ = 0;             // the socket's acknowledged() at its start
  mutable Clock::duration answer_waited_{};    // waiting to send it (waiting_to_send)
  mutable bool write_failed_ = false;
  char buffer_[4096];
  std::size_t buffered_ = 0;  // bytes of buffer_ already handed out
  std::size_t filled_ = 0;    // bytes of buffer_ read from the socket
};

using SetupRequest = std::function<void(httplib::Request&)>;
using ProcessRequest = std::function<bool(httplib::Stream&, bool close_connection,
                                          bool& connection_closed, const SetupRequest&)>;

// httplib's keep-alive loop, with a deadline for each request's head: the first is due
// from `head_start`, each later one from when its first byte arrives after an idle wait.
// `linger`: whether the connection ends with a body its client may still be sending;
// `abort`: with an answer given up on.
bool serve_requests(Socket& socket, const ConnectionTimeouts& timeouts,
                    Clock::time_point head_start, const std::atomic<socket_t>& listener,
                    const SetupRequest& setup, const ProcessRequest& process, bool& linger,
                    bool& abort) {
  DeadlineStream stream(socket, timeouts);
  current_stream = &stream;
  struct Forget {
    ~Forget() { current_stream = nullptr; }
  } forget;
  bool served = false;
  for (std::size_t left = timeouts.max_requests; left > 0; --left) {
    if (listener == INVALID_SOCKET) break;  // the server is stopping
    const bool first = left == timeouts.max_requests;
    if (!first && !stream.has_buffered() &&
        !socket.wait_readable(Clock::now() + timeouts.keep_alive))
      break;
    stream.head_due(first ? head_start + timeouts.head : Clock::now() + timeouts.head);
    bool closed = false;
    served = process(stream, left == 1, closed, [&](httplib::Request& request) {
      stream.head_done();
      if (setup) setup(request);
    });
    if (!served || closed || stream.read_failed() || stream.write_failed()) break;
  }
  linger = stream.body_left_unread();
  abort = stream.write_failed();
  return served;
}

// How long, and how much, a connection closed under a client still sending its body is
// read (and dropped) after the answer.
constexpr std::chrono::milliseconds kLingerTime{1'000};
constexpr std::size_t kLingerBytes = 16 << 20;

// Closes the connection whatever happened to it. With `linger` set, closes it as a
// client still sending a body needs: a close with its bytes unread makes the kernel
// reset the connection, and the client, still writing, got EPIPE or a TLS EOF instead of
// the answer already sent (a refused upload's 401). So the answer is ended with a FIN
// and what still arrives is read and dropped for a moment first. With `abort` (an answer
// given up on) it is reset: a FIN would wait behind the megabytes the kernel still holds
// of the answer, which the slow client went on taking for as long as it liked.
class ClosedAtEnd {
 public:
  explicit ClosedAtEnd(int fd) : fd_(fd) {}
  ~ClosedAtEnd() {
    // Results ignored: the peer may be gone already.
    if (abort) {
      const ::linger reset{.l_onoff = 1, .l_linger = 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ::close(fd_);
      return;
    }
    if (linger) {
      ::shutdown(fd_, SHUT_WR);
      drop_until_quiet();
    }
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
  }
  ClosedAtEnd(const ClosedAtEnd&) = delete;
  ClosedAtEnd& operator=(const ClosedAtEnd&) = delete;

  bool linger = false;
  bool abort = false;

 private:
  void drop_until_quiet() const {
    const Clock::time_point until = Clock::now() + kLingerTime;
    char buffer[16384];
    for (std::size_t dropped = 0; dropped < kLingerBytes;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        dropped += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
      pollfd readable{.fd = fd_, .events = POLLIN, .revents = 0};
      if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) <= 0) return;
    }
  }

  int fd_;
};

// Non-blocking, and without Nagle's delay: httplib writes an answer's headers and body
// apart, and the body waited for the client's delayed ACK of the headers, so every
// answer on a kept-alive connection took 40 ms more (REST GETs had a 44 ms median).
bool prepare_socket(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  const int one = 1;
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 &&
         ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

}  // namespace

void limit_request_body_wait(std::chrono::milliseconds wait) {
  if (current_stream != nullptr) current_stream->cap_body_wait(wait);
}

ApiError request_body_incomplete() {
  if (current_stream != nullptr && current_stream->body_too_slow()) {
    return ApiError(StatusCode::DEADLINE_EXCEEDED,
                    "the request body arrived too slowly: after its first 10 s a body must "
                    "arrive at 16 KiB/s on average");
  }
  if (current_stream != nullptr && current_stream->body_line_too_long()) {
    return ApiError(StatusCode::INVALID_ARGUMENT,
                    "a line of the request body's framing (Transfer-Encoding: chunked: a chunk "
                    "size, extension or trailer) holds more than 64 KiB",
                    kReasonInvalidRequest);
  }
  if (current_stream != nullptr && !current_stream->body_read_failed()) {
    // The socket delivered, the framing did not parse (a chunk size that overflows): the
    // rest would be read as the next request.
    current_stream->close_after();
    return ApiError(StatusCode::INVALID_ARGUMENT,
                    "the request body's framing is malformed (Transfer-Encoding: chunked)",
                    kReasonInvalidRequest);
  }
  return ApiError(StatusCode::CANCELLED,
                  "client disconnected before the request body was complete");
}

void close_connection_after_request() {
  if (current_stream != nullptr) current_stream->close_after();
}

bool PlainRestServer::process_and_close_socket(socket_t sock) {
  ClosedAtEnd closed(sock);
  if (!prepare_socket(sock)) return false;
  Socket socket(sock, nullptr, svr_sock_);
  return serve_requests(
      socket, timeouts_, RestConnectionPool::accepted_at(), svr_sock_, nullptr,
      [this](httplib::Stream& stream, bool close, bool& connection_closed,
             const SetupRequest& setup) {
        return process_request(stream, close, connection_closed, setup);
      },
      closed.linger, closed.abort);
}

bool TlsRestServer::process_and_close_socket(socket_t sock) {
  ClosedAtEnd closed(sock);
  const std::unique_ptr<SSL, SslFree> ssl(SSL_new(ssl_context()));
  if (!ssl || !prepare_socket(sock) || SSL_set_fd(ssl.get(), sock) != 1) {
    ERR_clear_error();
    return false;
  }
  Socket socket(sock, ssl.get(), svr_sock_);
  if (!socket.accept_tls(RestConnectionPool::accepted_at() + timeouts_.head)) {
    ERR_clear_error();
    return false;
  }
  const bool served = serve_requests(
      socket, timeouts_, Clock::now(), svr_sock_,
      [&ssl](httplib::Request& request) { request.ssl = ssl.get(); },
      [this](httplib::Stream& stream, bool close, bool& connection_closed,
             const SetupRequest& setup) {
        return process_request(stream, close, connection_closed, setup);
      },
      closed.linger, closed.abort);
  // A close_notify for a client that is still there, not waited for (result ignored).
  if (served && !closed.abort) SSL_shutdown(ssl.get());
  ERR_clear_error();
  return served;
}

}  // namespace agentfense::server
