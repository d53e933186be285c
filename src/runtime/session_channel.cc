#include "runtime/session_channel.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/errors.h"
#include "runtime/session_source_file.h"

namespace agentfense::runtime {
namespace {

// $1/$2 are the channel fds as we numbered them; they are moved to fds bash picks
// (>= 10, free) so they cannot collide with what a command redirects. The command runs
// with both closed, so its processes never inherit them (bash keeps its saved copies
// close-on-exec). $4, when set, is the fd of the shell's own execute-only binary: only
// needed for the exec, closed at once. The shell started like `bash -p`, so nothing in
// the session's env (BASH_ENV, ENV, SHELLOPTS, BASHOPTS, exported functions) ran or
// changed options before the loop; `set +p` then makes it an ordinary shell again, and
// BASH names the real bash rather than the /proc/self/fd path it was started from.
// `builtin` guards against a command redefining read/printf/eval as functions. A syntax
// error makes eval return 2 without leaving the loop; `exit` leaves it, and the shell's
// exit status is the sandbox's. $3, when set, is where to start (a restarted shell
// returning to the last cwd); failing that it stays put.
// SIGUSR1 aborts the running command: the trap runs once the foreground job is dead
// (or at the next command of a builtin loop) and returns from the innermost function,
// which is __af_run unless the command is inside one of its own functions. A read
// interrupted by the signal (it raced the command's end) just reads again: no command
// is in flight then. The first line of a frame, "<seq> <nonce>", is echoed as is.
// __af_run is defined while sourcing the runtime's read-only file "bash"
// (session_source_file.h): bash then names the function's source "bash" and prints
// "bash: line 1: x: command not found" for the commands it evals, as for a script,
// instead of "environment: line 4: ...". Sourced by that relative name (sourcepath off, so PATH
// plays no part), from its directory, then back with PWD and OLDPWD as they were;
// without the file the function is defined directly.
constexpr const char* kDriver = R"DRIVER(
exec {__af_in}<&"$1" {__af_out}>&"$2" || exit 125
builtin eval "exec $1<&- $2>&- ${4:+$4<&-}"
__af_define="__af_run() { __af_running=1; builtin eval \"\$__af_command\" $__af_in<&- $__af_out>&-; }"
builtin set +p
BASH=/bin/bash
__af_pwd=$PWD __af_oldpwd=${OLDPWD-}
if builtin cd -- /run/agentfense/session 2>/dev/null; then
  builtin shopt -u sourcepath
  builtin source bash 2>/dev/null
  builtin shopt -s sourcepath
  builtin cd -- "$__af_pwd"
  builtin unset OLDPWD
  builtin declare -x OLDPWD
  [[ -n $__af_oldpwd ]] && OLDPWD=$__af_oldpwd
fi
builtin declare -F __af_run >/dev/null || builtin eval "$__af_define"
builtin unset __af_define __af_pwd __af_oldpwd
[ -n "$3" ] && builtin cd -- "$3"
set --
builtin trap '[[ -n $__af_running ]] && return 137' USR1
builtin printf 'R\0' >&$__af_out
while :; do
  IFS= builtin read -r -d '' -u $__af_in __af_command || { (($? > 128)) && continue; break; }
  __af_seq=${__af_command%%$'\n'*}
  __af_command=${__af_command#*$'\n'}
  __af_run
  __af_status=$? __af_running=
  builtin printf 'D%s %d %s\0' "$__af_seq" "$__af_status" "$PWD" >&$__af_out
done
)DRIVER";

static_assert(std::string_view(kDriver).find(std::string_view(kSessionSourceDir)) !=
                  std::string_view::npos,
              "the driver sources the file session_source_file.h puts in the sandbox");

void set_nonblocking(int fd) {
  const int flags = static_cast<int>(check_syscall(::fcntl(fd, F_GETFL), "fcntl F_GETFL"));
  check_syscall(::fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl O_NONBLOCK");
}

// "D<seq> <nonce> <code> <cwd>"; nullopt for anything malformed.
std::optional<StatusMessage> parse_done(const std::string& body) {
  char* end = nullptr;
  StatusMessage message{.kind = StatusMessage::Kind::kDone};
  message.seq = std::strtoull(body.c_str() + 1, &end, 10);
  if (*end != ' ') return std::nullopt;
  message.nonce = std::strtoull(end + 1, &end, 16);
  if (*end != ' ') return std::nullopt;
  message.exit_code = static_cast<int>(std::strtol(end + 1, &end, 10));
  if (*end != ' ') return std::nullopt;
  message.cwd = end + 1;
  return message;
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
          kDriver,
          "bash",
          std::to_string(command_fd),
          std::to_string(status_fd),
          start_dir,
          exe_fd >= 0 ? std::to_string(exe_fd) : std::string()};
}

std::string frame_command(uint64_t seq, uint64_t nonce, const std::string& command) {
  char nonce_hex[17];
  std::snprintf(nonce_hex, sizeof nonce_hex, "%016llx", static_cast<unsigned long long>(nonce));
  std::string framed = std::to_string(seq) + " " + nonce_hex + "\n" + command;
  framed.push_back('\0');
  return framed;
}

uint64_t new_command_nonce() {
  uint64_t nonce = 0;
  // getrandom of 8 bytes from the initialised pool never returns short.
  check_syscall(::getrandom(&nonce, sizeof nonce, 0), "getrandom");
  return nonce;
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
    buffer_.append(data, static_cast<std::size_t>(got));
    if (auto message = take_buffered()) return message;
  }
  return std::nullopt;
}

std::optional<StatusMessage> SessionChannel::take_buffered() {
  for (;;) {
    const auto end = buffer_.find('\0');
    if (end == std::string::npos) return std::nullopt;
    const std::string body = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    std::optional<StatusMessage> message;
    if (body == "R") message = StatusMessage{.kind = StatusMessage::Kind::kReady};
    if (body.starts_with('D')) message = parse_done(body);
    if (!message) continue;  // not ours to understand; see the header
    message->sender_pid = buffer_sender_;
    return message;
  }
}

}  // namespace agentfense::runtime
