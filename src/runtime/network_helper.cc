#include "runtime/network_helper.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "common/errors.h"
#include "runtime/child_exec.h"
#include "runtime/helper_env.h"
#include "runtime/memfd.h"

namespace agentfense::runtime {
namespace {

using std::chrono::steady_clock;

int millis_left(steady_clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until `fd` is readable or `pidfd` (the process that should write it) exits.
// Returns false on timeout.
bool wait_readable(int fd, int pidfd, steady_clock::time_point deadline) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
  for (;;) {
    const int ready = ::poll(fds, 2, millis_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    check_syscall(ready, "poll");
    return ready > 0;
  }
}

UniqueFd open_namespace(pid_t pid, const char* type) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + type;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SystemError("open " + path, errno);
  return fd;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// "lo" joins the all-hosts multicast group (IPv4) and gets ::1 (IPv6) only once it is
// up, which bwrap does last in its loopback setup.
bool loopback_is_up(pid_t pid) {
  const std::string net = "/proc/" + std::to_string(pid) + "/net/";
  return read_text(net + "igmp").find("\tlo ") != std::string::npos ||
         read_text(net + "if_inet6").find(" lo\n") != std::string::npos;
}

void wait_for_loopback(pid_t pid, int bwrap_pidfd, steady_clock::time_point deadline) {
  while (!loopback_is_up(pid)) {
    pollfd exited{bwrap_pidfd, POLLIN, 0};
    if (::poll(&exited, 1, 0) == 1) throw SystemError("bwrap exited while starting", ECHILD);
    if (steady_clock::now() >= deadline)
      throw SystemError("the sandbox's loopback did not come up", ETIMEDOUT);
    std::this_thread::sleep_for(std::chrono::microseconds(250));
  }
}

std::string read_memfd(int fd) {
  std::string text;
  char buffer[4096];
  for (off_t offset = 0;;) {
    const ssize_t got = ::pread(fd, buffer, sizeof buffer, offset);
    if (got <= 0) return text;
    text.append(buffer, static_cast<std::size_t>(got));
    offset += got;
  }
}

}  // namespace

pid_t read_sandbox_pid(int info_fd, int bwrap_pidfd, std::chrono::milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  std::string info;
  for (;;) {
    constexpr const char* kKey = "\"child-pid\":";
    if (const auto key = info.find(kKey); key != std::string::npos) {
      const char* start = info.c_str() + key + std::string(kKey).size();
      char* end = nullptr;
      const long pid = std::strtol(start, &end, 10);
      if (end != start && *end != '\0' && pid > 0) return static_cast<pid_t>(pid);
    }
    if (!wait_readable(info_fd, bwrap_pidfd, deadline))
      throw SystemError("bwrap did not report its sandbox's pid", ETIMEDOUT);
    char buffer[1024];
    const ssize_t got = ::read(info_fd, buffer, sizeof buffer);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    check_syscall(got, "read bwrap info");
    if (got == 0) throw SystemError("bwrap exited before reporting its sandbox's pid", ECHILD);
    info.append(buffer, static_cast<std::size_t>(got));
  }
}

NetworkHelper NetworkHelper::start(const NetworkHelperPlan& plan) {
  const auto deadline = steady_clock::now() + plan.ready_timeout;
  wait_for_loopback(plan.sandbox_pid, plan.bwrap_pidfd, deadline);
  // Opened here, as the supervisor: the helper gets them as /proc/self/fd/N paths.
  const UniqueFd netns = open_namespace(plan.sandbox_pid, "net");
  // The user namespace that owns the network namespace, which the helper must join to
  // configure it. Not the sandbox process's own: bwrap's --disable-userns moves it into a
  // nested one, and /proc showed the outer or the nested one depending on whether we
  // looked before or after the move (under load: after, and slirp4netns then failed
  // with "setns(CLONE_NEWNET): Operation not permitted").
  const UniqueFd userns(::ioctl(netns.get(), NS_GET_USERNS));
  if (!userns) throw SystemError("NS_GET_USERNS on the sandbox's network namespace", errno);
  int ready[2], exit[2];
  check_syscall(::pipe2(ready, O_CLOEXEC), "pipe2");
  UniqueFd ready_read(ready[0]), ready_write(ready[1]);
  check_syscall(::pipe2(exit, O_CLOEXEC), "pipe2");
  UniqueFd exit_read(exit[0]);
  UniqueFd exit_write(exit[1]);
  // Its messages go to a memfd: read only to explain a failure, never a pipe whose
  // reader could go away and SIGPIPE it.
  const UniqueFd log = create_memfd("agentfense-slirp4netns-log");
  const UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null) throw SystemError("open /dev/null", errno);

  auto fd_path = [](const UniqueFd& fd) { return "/proc/self/fd/" + std::to_string(fd.get()); };
  const CStringArray argv({kSlirp4netnsPath, "--configure", "--mtu=65520",
                           "--disable-host-loopback", "--enable-seccomp",
                           "--ready-fd=" + std::to_string(ready_write.get()),
                           "--exit-fd=" + std::to_string(exit_read.get()), "--netns-type=path",
                           "--userns-path=" + fd_path(userns), fd_path(netns), "tap0"});
  ChildPlan child{.cgroup_join_fds = plan.cgroup_join_fds,
                  .stdin_fd = dev_null.get(),
                  .stdout_fd = log.get(),
                  .stderr_fd = log.get(),
                  .inherited_fds = {netns.get(), userns.get(), ready_write.get(), exit_read.get()},
                  .drop_privileges = plan.drop_privileges,
                  .private_tun_device = plan.drop_privileges,
                  .uid = plan.uid,
                  .gid = plan.gid,
                  .parent_pid = ::getpid(),
                  .program = kSlirp4netnsPath,
                  .argv = argv.get(),
                  .envp = helper_environment()};
  NetworkHelper helper(ChildProcess::spawn([&child] { return exec_child(child); }),
                       std::move(exit_write));
  // Only the helper holds these now, so its exit reads as EOF on `ready_read`.
  ready_write.reset();
  exit_read.reset();
  char byte = 0;
  if (wait_readable(ready_read.get(), helper.process_.pidfd(), deadline) &&
      ::read(ready_read.get(), &byte, 1) == 1)
    return helper;
  helper.process_.kill();
  const int status = helper.process_.wait();
  throw SystemError("network helper slirp4netns did not start (exit status " +
                        std::to_string(status) + "): " + read_memfd(log.get()),
                    EIO);
}

}  // namespace agentfense::runtime
