#include "runtime/exec_launcher.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "runtime/bwrap_args.h"
#include "runtime/clean_env.h"
#include "runtime/execute_only_shell.h"
#include "runtime/io_pump.h"
#include "runtime/launcher_protocol.h"
#include "runtime/stdio_pipes.h"
#include "runtime/workspace_attach.h"

namespace agentfense::runtime {
namespace wire = launcher_wire;
namespace {

constexpr auto kReplyTimeout = std::chrono::seconds(10);
// How long a command's end may go unreported by its launcher before the launcher counts
// as lost (a command stopped it).
constexpr auto kLostLauncherGrace = std::chrono::seconds(1);
constexpr const char* kLauncherName = "agentfense-launcher";
// bwrap's outer process and its pid 1, which a command of its own counts (exec.h).
constexpr int64_t kBwrapProcesses = 2;

struct SocketPair {
  UniqueFd ours, theirs;
};

// Stream sockets; ours is told the writer's pid with every message (SO_PASSCRED).
SocketPair socket_pair() {
  int fds[2];
  check_syscall(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair launcher");
  SocketPair pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
  const int on = 1;
  check_syscall(::setsockopt(pair.ours.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on),
                "SO_PASSCRED");
  return pair;
}

void send_tag(int sock, char tag, const std::vector<int>& fds = {}) {
  iovec iov{.iov_base = &tag, .iov_len = 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != 1) throw SystemError("send to the exec launcher", sent < 0 ? errno : EIO);
}

void send_all(int sock, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(sock, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SystemError("send to the exec launcher", n < 0 ? errno : EIO);
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Reads exactly `size` bytes written by host pid `from` (any pid when `from` <= 0; the
// writer is returned in `writer`), waiting at most `timeout` and giving up early when
// `also` (a pidfd) becomes readable. Bytes of any other writer end the read: false.
bool receive_from(int sock, void* data, std::size_t size, pid_t from, int also,
                  std::chrono::milliseconds timeout, pid_t* writer = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd watched[2] = {{.fd = sock, .events = POLLIN, .revents = 0},
                         {.fd = also, .events = POLLIN, .revents = 0}};
    const int ready = ::poll(watched, also >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw SystemError("poll exec launcher", errno);
    if (!(watched[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (watched[1].revents) return false;  // the launcher's boundary is gone
      continue;
    }
    iovec iov{.iov_base = p, .iov_len = size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t got = ::recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return false;
    pid_t sender = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      }
    }
    if (from > 0 && sender != from) return false;
    if (writer) *writer = sender;
    p += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

pid_t parent_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("PPid:")) return static_cast<pid_t>(std::stol(line.substr(5)));
  return -1;
}

// The wait status of `pid` once it has exited but nobody reaped it yet: field 52 of
// /proc/<pid>/stat ("exit_code"), as 128+N for signal N; nullopt when it is gone.
std::optional<int> unreaped_exit_status(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  const std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto name_end = line.rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(name_end + 2));
  std::string field;
  for (int index = 3; fields >> field; ++index) {
    if (index == 3 && field != "Z") return std::nullopt;
    if (index == 52) {
      const int status = std::stoi(field);
      return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
  }
  return std::nullopt;
}

int launcher_exe() {
  static std::mutex mutex;
  static UniqueFd copy;
  const std::lock_guard lock(mutex);
  if (!copy) {
    const std::string path = launcher_program_path();
    if (path.empty()) throw SystemError(std::string(kLauncherName) + " not found", ENOENT);
    copy = make_execute_only_copy(path.c_str(), kLauncherName);
  }
  return copy.get();
}

Limits spare_limits(Limits limits) {
  // A command of its own also holds bwrap's two processes; the same room, not more.
  if (limits.pids_limit > 0)
    limits.pids_limit = std::max<int64_t>(1, limits.pids_limit - kBwrapProcesses);
  return limits;
}

void check_text(const std::string& text) {
  if (text.find('\0') != std::string::npos)
    throw UserError("bwrap option holds a NUL byte: " + text.substr(0, text.find('\0')));
}

}  // namespace

std::string launcher_program_path() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path path = self.parent_path() / kLauncherName;
  return ::access(path.c_str(), X_OK) == 0 ? path.string() : "";
}

struct ExecLauncher::Spare {
  UniqueFd sock;
  pid_t pid = -1;
  UniqueFd pidfd;  // readable once the command has exited, whatever the launcher does
  std::unique_ptr<SandboxCgroup> cgroup;
};

ExecLauncher::ExecLauncher(const ExecSpec& base) : base_(base) {}

std::unique_ptr<ExecLauncher> ExecLauncher::start(const ExecSpec& base) {
  if (base.workspace_fd < 0)
    throw UserError("the exec launcher runs only commands of a sandbox with a workspace");
  return launch(base, false);
}

std::unique_ptr<ExecLauncher> ExecLauncher::start_before_workspace(const ExecSpec& base) {
  ExecSpec without = base;
  without.workspace_fd = -1;
  return launch(without, true);
}

void ExecLauncher::attach_workspace(int workspace_fd) {
  if (!awaiting_workspace_) throw UserError("the exec launcher has its workspace already");
  runtime::attach_workspace(workspace_fd, launcher_pid_, boundary_->pid());
  base_.workspace_fd = workspace_fd;
  awaiting_workspace_ = false;
}

std::unique_ptr<ExecLauncher> ExecLauncher::launch(const ExecSpec& base, bool workspace_later) {
  if (base.network || base.inherit_stdio)
    throw UserError("the exec launcher runs only commands of a sandbox with a workspace");
  const int exe = launcher_exe();
  SocketPair control = socket_pair();
  ExecSpec spec = base;
  spec.argv = {"/proc/self/fd/" + std::to_string(exe), std::to_string(control.theirs.get()),
               std::to_string(exe)};
  spec.env.clear();
  spec.workdir = "/";
  spec.stdin_data.reset();
  std::unique_ptr<ExecLauncher> launcher(new ExecLauncher(base));
  // The launcher's own processes are not a command's: only spares get a cgroup (and the
  // limits). Joining one would also cost a cgroup move, an RCU grace period. The limits
  // still size the private /tmp.
  launcher->boundary_.emplace(SandboxProcess::start(spec, {control.theirs.get(), exe},
                                                    /*own_cgroup=*/false, workspace_later));
  launcher->awaiting_workspace_ = workspace_later;
  control.theirs.reset();
  launcher->control_ = std::move(control.ours);
  char hello = 0;
  pid_t pid = -1;
  if (!receive_from(launcher->control_.get(), &hello, 1, -1, launcher->boundary_->pidfd(),
                    kReplyTimeout, &pid) ||
      hello != wire::kHello || pid <= 0)
    throw SystemError("the exec launcher did not start", ECHILD);
  launcher->launcher_pid_ = pid;
  launcher->preparer_ = std::thread([raw = launcher.get()] { raw->prepare_loop(); });
  return launcher;
}

ExecLauncher::~ExecLauncher() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  // The launcher reads EOF and exits; its boundary's end takes every process with it.
  if (control_) ::shutdown(control_.get(), SHUT_RDWR);
  if (preparer_.joinable()) preparer_.join();
  spare_.reset();
  retired_.clear();
  if (boundary_) boundary_->terminate();
}

bool ExecLauncher::fits(const ExecSpec& spec) const {
  const Limits& a = spec.limits;
  const Limits& b = base_.limits;
  return !awaiting_workspace_ && !spec.network && !spec.inherit_stdio &&
         spec.workspace_fd == base_.workspace_fd && spec.host_uid == base_.host_uid &&
         spec.host_gid == base_.host_gid && spec.cgroup_parent == base_.cgroup_parent &&
         a.memory_bytes == b.memory_bytes && a.cpu_quota == b.cpu_quota &&
         a.cpu_shares == b.cpu_shares && a.pids_limit == b.pids_limit;
}

bool ExecLauncher::alive() const {
  {
    const std::lock_guard lock(mu_);
    if (broken_ || stopping_) return false;
  }
  pollfd exited{.fd = boundary_->pidfd(), .events = POLLIN, .revents = 0};
  return ::poll(&exited, 1, 0) == 0;
}

std::unique_ptr<ExecLauncher::Spare> ExecLauncher::prepare_spare() {
  SocketPair pair = socket_pair();
  send_tag(control_.get(), wire::kSpare, {pair.theirs.get()});
  pair.theirs.reset();
  auto spare = std::make_unique<Spare>();
  spare->sock = std::move(pair.ours);
  char ready = 0;
  if (!receive_from(spare->sock.get(), &ready, 1, -1, boundary_->pidfd(), kReplyTimeout,
                    &spare->pid) ||
      ready != wire::kReady || spare->pid <= 0)
    throw SystemError("the exec launcher did not fork", ECHILD);
  // Only a child of the launcher may be handed a command (and a cgroup).
  if (parent_of(spare->pid) != launcher_pid_)
    throw SystemError("exec spare " + std::to_string(spare->pid) + " is not the launcher's", ESRCH);
  spare->pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, spare->pid, 0)));
  if (!spare->pidfd) throw SystemError("pidfd_open exec spare", errno);
  if (::geteuid() == 0) {
    spare->cgroup = SandboxCgroup::create(spare_limits(base_.limits), base_.cgroup_parent);
    spare->cgroup->move_in(spare->pid);
  }
  return spare;
}

void ExecLauncher::prepare_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !retired_.empty() || (!spare_ && !broken_); });
    if (stopping_) return;
    if (!retired_.empty()) {
      std::vector<std::unique_ptr<Spare>> done = std::move(retired_);
      retired_.clear();
      lock.unlock();
      done.clear();  // their cgroups: members killed, directories removed
      lock.lock();
      continue;
    }
    lock.unlock();
    std::unique_ptr<Spare> spare;
    try {
      spare = prepare_spare();
    } catch (const std::exception&) {
      // A launcher that cannot fork is of no use; the caller starts another.
    }
    lock.lock();
    if (spare) {
      spare_ = std::move(spare);
    } else {
      broken_ = true;
    }
    changed_.notify_all();
  }
}

std::unique_ptr<ExecLauncher::Spare> ExecLauncher::take_spare() {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, kReplyTimeout, [this] { return spare_ || broken_ || stopping_; });
  std::unique_ptr<Spare> spare = std::move(spare_);
  changed_.notify_all();  // the preparer forks the next one while this one runs
  return spare;
}

void ExecLauncher::clean_if_idle() {
  std::unique_lock lock(mu_);
  --running_;
  if (running_ > 0 || !dirty_ || broken_) return;
  cleaning_ = true;
  dirty_ = false;
  lock.unlock();
  bool cleaned = false;
  try {
    send_tag(control_.get(), wire::kClean);
    char reply = 0;
    cleaned =
        receive_from(control_.get(), &reply, 1, launcher_pid_, boundary_->pidfd(), kReplyTimeout) &&
        reply == wire::kCleaned;
  } catch (const std::exception&) {
  }
  lock.lock();
  cleaning_ = false;
  // A command must never find what the last one left: without the clean, no launcher.
  if (!cleaned) broken_ = true;
  changed_.notify_all();
}

std::optional<ExecResult> ExecLauncher::run(const ExecSpec& spec) {
  const auto started = std::chrono::steady_clock::now();
  if (spec.argv.empty() || spec.argv.front().empty()) throw UserError("no command given");
  if (spec.timeout.count() < 0) throw UserError("timeout must not be negative");
  const std::string workdir = resolve_workdir(spec.workdir);
  std::string payload = workdir;
  payload.push_back('\0');
  for (const std::string& arg : spec.argv) {
    check_text(arg);
    payload += wire::kArg + arg;
    payload.push_back('\0');
  }
  check_text(workdir);
  for (const std::string& entry : clean_environment(spec.env, workdir)) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError("invalid environment entry '" + entry.substr(0, entry.find('=')) + "'");
    check_text(entry);
    payload += wire::kEnv + entry;
    payload.push_back('\0');
  }

  // Nothing runs before the workspace is there.
  if (awaiting_workspace_) return std::nullopt;
  {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return !cleaning_; });
    if (broken_ || stopping_) return std::nullopt;
    ++running_;
    dirty_ = true;
  }
  struct Finish {
    ExecLauncher* self;
    ~Finish() { self->clean_if_idle(); }
  } finish{this};
  std::unique_ptr<Spare> spare = take_spare();
  if (!spare) return std::nullopt;

  StdioPipes stdio = StdioPipes::create(false, spec.stdin_data.has_value());
  try {
    send_tag(spare->sock.get(), wire::kExec,
             {stdio.child_stdin(), stdio.child_stdout(), stdio.child_stderr()});
    const auto length = static_cast<std::uint32_t>(payload.size());
    send_all(spare->sock.get(), &length, sizeof length);
    send_all(spare->sock.get(), payload.data(), payload.size());
  } catch (const SystemError&) {
    return std::nullopt;  // the spare is gone (its cgroup dies with it): nothing ran
  }
  stdio.close_child_ends();

  IoPump pump(std::move(stdio.out.parent_end), std::move(stdio.err.parent_end),
              std::move(stdio.in.parent_end), spec.stdin_data.value_or(""), spec.output_limit,
              spec.on_output);
  IoPump::Deadline deadline;
  if (spec.timeout.count() > 0) deadline = started + spec.timeout;
  // The command's end is what the launcher reports on the socket; the pidfd covers a
  // launcher that a command stopped or killed (it then reports nothing).
  const std::vector<int> watched = {spare->sock.get(), spec.cancel_fd, spare->pidfd.get()};
  const std::optional<std::size_t> fired = pump.pump_until_readable(watched, deadline);

  ExecResult result;
  result.timed_out = !fired;
  result.cancelled = fired == 1u;
  result.exit_code = 128 + SIGKILL;
  if (fired == 0u || fired == 2u) {
    char record[1 + sizeof(std::int32_t)] = {};
    // Only the launcher reports an end; a launcher that does not (killed or stopped under
    // the command) is replaced, and the command reads as killed.
    if (receive_from(spare->sock.get(), record, sizeof record, launcher_pid_, -1,
                     fired == 0u ? kReplyTimeout : kLostLauncherGrace) &&
        record[0] == wire::kExit) {
      std::memcpy(&result.exit_code, record + 1, sizeof(std::int32_t));
    } else {
      // A stopped launcher leaves the command unreaped: its status is still the kernel's.
      if (const std::optional<int> status = unreaped_exit_status(spare->pid))
        result.exit_code = *status;
      const std::lock_guard lock(mu_);
      broken_ = true;
    }
  }
  // Daemons die here too, as under run_sandboxed: the cgroup holds the command's tree.
  if (spare->cgroup) spare->cgroup->kill_all();
  const LimitHits hits = spare->cgroup ? spare->cgroup->limit_hits() : LimitHits{};
  result.oom_killed = hits.oom_kills > 0;
  result.pids_limit_reached = hits.pids_refused > 0;
  pump.drain();
  pump.collect(result);
  {
    // Removing the cgroup may wait for the kernel to let go of it (EBUSY for a moment
    // after its last process died): the preparer does that, off the command's path.
    const std::lock_guard lock(mu_);
    retired_.push_back(std::move(spare));
  }
  changed_.notify_all();
  result.duration = std::chrono::steady_clock::now() - started;
  return result;
}

}  // namespace agentfense::runtime
