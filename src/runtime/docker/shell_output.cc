#include "runtime/docker/shell_output.h"

#include <sys/socket.h>

#include <cerrno>

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

constexpr Stream kStreams[] = {Stream::kStdout, Stream::kStderr};

}  // namespace

ShellOutput::ShellOutput(SessionLink& link, Sink sink) : sink_(std::move(sink)) {
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    SessionLink::Output output = link.take_output(i);
    sockets_[i] = std::move(output.fd);
    // We never send on them: the shell's side reads end-of-file at once.
    (void)::shutdown(sockets_[i].get(), SHUT_WR);  // fails only for a closed peer
    if (!output.head.empty()) sink_(kStreams[i], output.head);
  }
}

void ShellOutput::read_from(std::size_t index) {
  (void)read_once(index);
}

void ShellOutput::read_available() {
  for (std::size_t i = 0; i < sockets_.size(); ++i)
    while (read_once(i)) {
    }
}

bool ShellOutput::read_once(std::size_t index) {
  UniqueFd& socket = sockets_.at(index);
  if (!socket) return false;
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t got = ::recv(socket.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (got > 0) {
      sink_(kStreams[index], std::string_view(chunk, static_cast<std::size_t>(got)));
      return true;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) return false;
    // The end (every holder closed it) or a reset: nothing more can come.
    socket.reset();
    return false;
  }
}

}  // namespace agentfense::runtime::docker
