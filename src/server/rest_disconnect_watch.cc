#include "server/rest_disconnect_watch.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "common/dir_stream.h"
#include "common/log.h"

namespace agentfense::server {
namespace {

struct Endpoint {
  std::string addr;
  int port = -1;
};

// As httplib renders addresses: numeric host, host-order port.
std::optional<Endpoint> describe(const sockaddr_storage& address, socklen_t length) {
  int port = -1;
  if (address.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  else if (address.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  else
    return std::nullopt;
  std::array<char, NI_MAXHOST> host{};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host.data(), host.size(),
                    nullptr, 0, NI_NUMERICHOST) != 0)
    return std::nullopt;
  return Endpoint{host.data(), port};
}

// True when `fd` is the connection's socket. Any failure (not a socket, closed since
// we listed it) just means "not this one".
bool is_connection(int fd, const HttpConnection& connection) {
  sockaddr_storage local{};
  socklen_t local_length = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0) return false;
  const auto here = describe(local, local_length);
  if (!here || here->port != connection.local_port) return false;
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) return false;
  const auto there = describe(peer, peer_length);
  return there && there->port == connection.remote_port && there->addr == connection.remote_addr;
}

void watch(const HttpConnection& connection, CallContext& call, int stop_fd, int shutdown_fd) {
  const UniqueFd socket = FindConnectionSocket(connection);
  if (!socket) {
    // The gateway stopping is still watched for (poll skips a negative fd).
    log::warn("rest.connection_not_found",
              {{"remote", connection.remote_addr + ":" + std::to_string(connection.remote_port)}});
  }
  for (;;) {
    // POLLIN is deliberately not asked for on the socket: bytes of a pipelined next
    // request must not wake us. POLLHUP and POLLERR are always reported.
    std::array fds = {pollfd{.fd = stop_fd, .events = POLLIN, .revents = 0},
                      pollfd{.fd = socket ? socket.get() : -1, .events = POLLRDHUP, .revents = 0},
                      pollfd{.fd = shutdown_fd, .events = POLLIN, .revents = 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log::warn("rest.disconnect_watch_failed", {{"errno", errno}});
      return;
    }
    if (fds[0].revents != 0) return;
    if ((fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) || fds[2].revents != 0) {
      call.cancel();
      return;
    }
  }
}

}  // namespace

HttpConnection ConnectionOf(const httplib::Request& request) {
  return {request.local_port, request.remote_addr, request.remote_port};
}

UniqueFd FindConnectionSocket(const HttpConnection& connection) {
  DirStream listing("/proc/self/fd");
  if (!listing) return {};
  while (const dirent* entry = listing.next()) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == listing.fd()) continue;
    if (!is_connection(static_cast<int>(fd), connection)) continue;
    // Checked again on the dup: the number may have been closed and reused meanwhile.
    UniqueFd copy(::fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 3));
    if (copy && is_connection(copy.get(), connection)) return copy;
  }
  return {};
}

RestDisconnectWatch::RestDisconnectWatch(HttpConnection connection, CallContext& call,
                                         int shutdown_fd)
    : thread_([connection = std::move(connection), &call, shutdown_fd](int stop_fd) {
        watch(connection, call, stop_fd, shutdown_fd);
      }) {}

}  // namespace agentfense::server
