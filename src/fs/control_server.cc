#include "fs/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <system_error>

#include "common/errors.h"

namespace agentfense::fs {
namespace {

// A request larger than this is not a plausible list of paths; the connection is closed
// rather than buffering without bound.
constexpr size_t kMaxRequestBytes = 64 * 1024 * 1024;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw SystemError("control socket path '" + path + "'", ENAMETOOLONG);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

void remove_stale_socket(const std::string& path) {
  struct stat st;
  // Only a socket is removed: a mistyped path must never delete someone's file.
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    check_syscall(::unlink(path.c_str()), "remove stale control socket " + path);
  }
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    // MSG_NOSIGNAL: a supervisor that hung up must not kill the fs process with SIGPIPE.
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ControlServer::ControlServer(std::string socket_path, Handler handler)
    : path_(std::move(socket_path)), handler_(std::move(handler)) {
  const sockaddr_un address = address_of(path_);
  int pipe_fds[2];
  check_syscall(::pipe2(pipe_fds, O_CLOEXEC), "pipe");
  stop_read_.reset(pipe_fds[0]);
  stop_write_.reset(pipe_fds[1]);
  listen_fd_.reset(static_cast<int>(
      check_syscall(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "control socket")));
  // The socket file takes its mode from the socket inode at bind time, so it is never
  // reachable with a wider mode, whatever the umask.
  check_syscall(::fchmod(listen_fd_.get(), 0600), "chmod control socket");
  remove_stale_socket(path_);
  check_syscall(
      ::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
      "bind control socket " + path_);
  try {
    check_syscall(::chmod(path_.c_str(), 0600), "chmod control socket " + path_);
    // The server connects without waiting (control_client.cc: a full backlog is EAGAIN),
    // once per command when its idle connections are in use: with 16, 24 execs started
    // together on a loaded machine found it full and one was refused "not answering".
    check_syscall(::listen(listen_fd_.get(), SOMAXCONN), "listen on control socket " + path_);
  } catch (...) {
    (void)::unlink(path_.c_str());
    throw;
  }
  // The acceptor (and the connection threads it starts, which inherit its mask) blocks
  // every signal: SIGTERM must reach a FUSE worker thread, whose interrupted read() ends
  // the session loop. Delivered to a thread parked in accept(), it would be lost and
  // the mount would outlive its supervisor.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  acceptor_ = std::thread([this] { accept_loop(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

ControlServer::~ControlServer() {
  const char byte = 1;
  // Cannot fail while we hold the read end; if it somehow did, the joins below would
  // hang, which is still better than closing fds other threads are polling.
  (void)!::write(stop_write_.get(), &byte, 1);
  acceptor_.join();
  std::list<Connection> connections;
  {
    std::lock_guard lock(mu_);
    connections.swap(connections_);
  }
  for (Connection& connection : connections) connection.thread.join();
  (void)::unlink(path_.c_str());
}

bool ControlServer::wait_readable(int fd) const {
  pollfd fds[2] = {{fd, POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
  while (true) {
    const int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || fds[1].revents) return false;
    if (fds[0].revents) return true;
  }
}

void ControlServer::accept_loop() {
  while (wait_readable(listen_fd_.get())) {
    UniqueFd connection(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection) {
      // ECONNABORTED/EMFILE: nothing to serve this time; back off instead of spinning on
      // a listening socket that stays readable.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::lock_guard lock(mu_);
    join_finished_connections();
    Connection& entry = connections_.emplace_back();
    try {
      entry.thread = std::thread([this, &entry, fd = connection.get()] {
        serve_connection(UniqueFd(fd));
        entry.finished = true;
      });
      (void)connection.release();  // the thread owns it now
    } catch (const std::system_error&) {
      // No thread to spare (EAGAIN): this connection is closed unserved, the supervisor
      // sees the request fail; the mount keeps serving.
      connections_.pop_back();
    }
  }
}

void ControlServer::join_finished_connections() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!it->finished) {
      ++it;
      continue;
    }
    it->thread.join();  // it has returned from serve_connection: at most its exit is left
    it = connections_.erase(it);
  }
}

void ControlServer::serve_connection(UniqueFd connection) {
  std::string buffer;
  while (wait_readable(connection.get())) {
    char chunk[64 * 1024];
    const ssize_t n = ::recv(connection.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the peer closed the connection, or it failed
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      const std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
      if (!send_all(connection.get(), handler_(line) + "\n")) return;
    }
    if (buffer.size() > kMaxRequestBytes) return;
  }
}

}  // namespace agentfense::fs
