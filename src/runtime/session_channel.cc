#include "runtime/session_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/errors.h"
#include "runtime/session_driver_script.h"

namespace agentfense::runtime {
namespace {

void set_nonblocking(int fd) {
  const int flags = static_cast<int>(check_syscall(::fcntl(fd, F_GETFL), "fcntl F_GETFL"));
  check_syscall(::fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
}

}  // namespace

std::vector<std::string> session_driver_argv(const std::string& shell_exe, int command_fd,
                                             int status_fd, const std::string& start_dir,
                                             int exe_fd) {
  // $0 = "bash" so error messages read like an ordinary shell's.
  // bash takes its long options first.
  return {shell_exe,
          "--noprofile",
          "--norc",
          "-p",
          "-c",
          session_driver_script({.container = false}),
          "bash",
          std::to_string(command_fd),
          std::to_string(status_fd),
          start_dir,
          exe_fd >= 0 ? std::to_string(exe_fd) : std::string(),
          "/bin/bash"};
}

SessionChannel SessionChannel::create() {
  SessionChannel channel;
  int command[2];
  check_syscall(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, command),
                "socketpair session commands");
  channel.command_write_.reset(command[0]);
  channel.command_child_.reset(command[1]);
  set_nonblocking(channel.command_write_.get());
  // One direction each: the shell's end can only read commands, ours only send them.
  check_syscall(::shutdown(channel.command_write_.get(), SHUT_RD), "shutdown session commands");

  int status[2];
  check_syscall(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, status),
                "socketpair session status");
  channel.status_read_.reset(status[0]);
  channel.status_child_.reset(status[1]);
  set_nonblocking(channel.status_read_.get());
  check_syscall(::shutdown(channel.status_read_.get(), SHUT_WR), "shutdown session status");
  // Must be on before the shell writes: the kernel then attaches the sender's
  // credentials to every message, translated into our pid namespace.
  const int on = 1;
  check_syscall(::setsockopt(channel.status_read_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on),
                "setsockopt SO_PASSCRED");
  return channel;
}

void SessionChannel::close_child_ends() {
  command_child_.reset();
  status_child_.reset();
}

std::optional<StatusMessage> SessionChannel::receive() {
  if (auto message = take_buffered()) return message;
  while (!closed_) {
    char data[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof data};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control;
    header.msg_controllen = sizeof control;
    const ssize_t got = ::recvmsg(status_read_.get(), &header, MSG_CMSG_CLOEXEC);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) return std::nullopt;
    check_syscall(got, "recvmsg session status");
    if (got == 0) {
      closed_ = true;
      break;
    }
    // A stream socket never merges bytes from writers with different credentials, so
    // each read comes from exactly one process, which the kernel names.
    pid_t sender = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      }
    }
    if (trusted_sender_ > 0 && sender != trusted_sender_) {
      ++dropped_writes_;  // not the shell: never parsed, never mixed into its messages
      continue;
    }
    buffer_sender_ = sender;
    buffer_.append(std::string_view(data, static_cast<std::size_t>(got)));
    if (auto message = take_buffered()) return message;
  }
  return std::nullopt;
}

std::optional<StatusMessage> SessionChannel::take_buffered() {
  std::optional<StatusMessage> message = buffer_.take();
  if (message) message->sender_pid = buffer_sender_;
  return message;
}

}  // namespace agentfense::runtime
