// agentfense-launcher: runs inside a sandbox's bubblewrap boundary (started once, with
// the sandbox's own namespaces, ids, seccomp filter and no capabilities) and starts that
// sandbox's commands, so an exec costs a fork instead of a new boundary. The server
// talks to it as launcher_protocol.h says; exec_launcher.h is the server's side.
//
// Trust: everything it starts runs as the same uid, so it must not be reachable by them.
// It runs from an execute-only copy (the kernel then marks it non-dumpable: no ptrace,
// no /proc/<pid>/fd|mem|environ for the agent), says so again with PR_SET_DUMPABLE, and
// hands a command none of its fds. A command can still kill it (same uid); the server
// then notices and starts a new one.
//
// Kept to plain syscalls: it is small, starts in well under a millisecond, and a spare
// (a forked child waiting for its command) is a copy of it.
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "runtime/launcher_protocol.h"

namespace wire = agentfense::runtime::launcher_wire;

namespace {

bool write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// One tag byte, with up to `max_fds` fds passed alongside it.
bool receive_tag(int fd, char& tag, int* fds, std::size_t max_fds, std::size_t& got_fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  iovec iov{.iov_base = &tag, .iov_len = 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return false;
  got_fds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* passed = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (std::size_t i = 0; i < count; ++i) {
      if (got_fds < max_fds) {
        fds[got_fds++] = passed[i];
      } else {
        ::close(passed[i]);
      }
    }
  }
  return true;
}

[[noreturn]] void die(const char* what, const char* arg) {
  // bwrap's wording, so a command that cannot start reads as it always did.
  std::fprintf(stderr, "bwrap: %s%s: %s\n", what, arg, std::strerror(errno));
  ::_exit(wire::kSetupFailedStatus);
}

// ---- the spare: a forked child that becomes one command ----

[[noreturn]] void run_spare(int sock) {
  // Defaults for everything the command inherits (the launcher blocks SIGCHLD).
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) (void)::signal(sig, SIG_DFL);
  if (!write_all(sock, &wire::kReady, 1)) ::_exit(wire::kSetupFailedStatus);
  char tag = 0;
  int fds[3] = {-1, -1, -1};
  std::size_t got = 0;
  if (!receive_tag(sock, tag, fds, 3, got) || tag != wire::kExec || got != 3) ::_exit(127);
  std::uint32_t length = 0;
  if (!read_all(sock, &length, sizeof length) || length > wire::kMaxPayload) ::_exit(127);
  std::string payload(length, '\0');
  if (!read_all(sock, payload.data(), length)) ::_exit(127);
  for (int i = 0; i < 3; ++i)
    if (::dup2(fds[i], i) < 0) ::_exit(127);
  // Nothing of the launcher's reaches the command: not its sockets, not this one.
  ::close_range(3, ~0U, 0);

  std::vector<char*> argv, envp;
  const char* workdir = payload.c_str();
  for (std::size_t at = std::strlen(workdir) + 1; at < payload.size();) {
    char* item = payload.data() + at;
    const std::size_t len = std::strlen(item);
    if (item[0] == wire::kArg) argv.push_back(item + 1);
    if (item[0] == wire::kEnv) envp.push_back(item + 1);
    at += len + 1;
  }
  if (argv.empty()) ::_exit(127);
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  if (::chdir(workdir) < 0) die("Can't chdir to ", workdir);
  // execvp looks the command up in the command's own PATH, as under bwrap.
  environ = envp.data();
  ::execvp(argv[0], argv.data());
  die("execvp ", argv[0]);
}

// ---- between commands: leave nothing behind for the next one ----

void empty_directory(int dir_fd) {
  DIR* dir = ::fdopendir(dir_fd);
  if (!dir) {
    ::close(dir_fd);
    return;
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  for (const std::string& name : names) {
    if (::unlinkat(dirfd(dir), name.c_str(), 0) == 0) continue;
    struct stat st;
    if (::fstatat(dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      continue;
    // The command may have left a directory it cannot enter or write; it was the
    // sandbox's uid, so the launcher owns it. Nothing else runs now: no command can swap
    // it for a symlink between the check above and the chmod.
    (void)::fchmodat(dirfd(dir), name.c_str(), 0700, 0);
    const int sub =
        ::openat(dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) continue;
    empty_directory(sub);
    (void)::unlinkat(dirfd(dir), name.c_str(), AT_REMOVEDIR);
  }
  ::closedir(dir);
}

// Empties `path` (when it exists); false when something stayed.
bool empty_path(const char* path) {
  int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  empty_directory(fd);
  fd = ::open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return false;
  }
  bool empty = true;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") empty = false;
  }
  ::closedir(dir);
  return empty;
}

// SysV objects outlive their creators; every one in this IPC namespace is the agent's
// (the *_STAT_ANY forms list them whatever their mode; the owner may always remove).
// False when some stayed.
bool remove_ipc_objects() {
  shm_info shm{};
  const int shm_max = ::shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&shm));
  for (int i = 0; i <= shm_max; ++i) {
    shmid_ds ds{};
    const int id = ::shmctl(i, SHM_STAT_ANY, &ds);
    if (id >= 0) (void)::shmctl(id, IPC_RMID, nullptr);
  }
  msginfo msg{};
  const int msg_max = ::msgctl(0, MSG_INFO, reinterpret_cast<msqid_ds*>(&msg));
  for (int i = 0; i <= msg_max; ++i) {
    msqid_ds ds{};
    const int id = ::msgctl(i, MSG_STAT_ANY, &ds);
    if (id >= 0) (void)::msgctl(id, IPC_RMID, nullptr);
  }
  seminfo sem{};
  const int sem_max = ::semctl(0, 0, SEM_INFO, &sem);
  for (int i = 0; i <= sem_max; ++i) {
    semid_ds ds{};
    const int id = ::semctl(i, 0, SEM_STAT_ANY, &ds);
    if (id >= 0) (void)::semctl(id, 0, IPC_RMID);
  }
  shm = {};
  msg = {};
  sem = {};
  (void)::shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&shm));
  (void)::msgctl(0, MSG_INFO, reinterpret_cast<msqid_ds*>(&msg));
  (void)::semctl(0, 0, SEM_INFO, &sem);
  return shm.used_ids == 0 && msg.msgpool == 0 && sem.semusz == 0;
}

// False when something of the last command stayed: the server then replaces us.
bool clean_between_commands() {
  const bool tmp = empty_path("/tmp");
  const bool shm = empty_path("/dev/shm");
  return remove_ipc_objects() && tmp && shm;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else: no process of the sandbox may read or trace us.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (argc != 3) return 2;
  const int control = std::atoi(argv[1]);
  // The fd our own executable was passed as (its copy stays with the server).
  ::close(std::atoi(argv[2]));

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  const int children = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (children < 0) return 2;
  if (!write_all(control, &wire::kHello, 1)) return 2;

  std::map<pid_t, int> spares;  // our children -> the socket their status goes to
  for (;;) {
    pollfd watched[2] = {{.fd = control, .events = POLLIN, .revents = 0},
                         {.fd = children, .events = POLLIN, .revents = 0}};
    if (::poll(watched, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 2;
    }
    if (watched[1].revents) {
      signalfd_siginfo info;
      while (::read(children, &info, sizeof info) > 0) {
      }
      int status = 0;
      for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
        const auto it = spares.find(pid);
        if (it == spares.end()) continue;
        const std::int32_t code =
            WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        char record[1 + sizeof code];
        record[0] = wire::kExit;
        std::memcpy(record + 1, &code, sizeof code);
        (void)write_all(it->second, record, sizeof record);
        ::close(it->second);
        spares.erase(it);
      }
    }
    if (!watched[0].revents) continue;
    char tag = 0;
    int fd = -1;
    std::size_t got = 0;
    // EOF: the server is gone or done with us; bwrap's death ends every command.
    if (!receive_tag(control, tag, &fd, 1, got)) return 0;
    if (tag == wire::kSpare && got == 1) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(control);
        ::close(children);
        for (const auto& [other, sock] : spares) ::close(sock);
        run_spare(fd);
      }
      if (pid < 0) {
        ::close(fd);  // the server sees EOF instead of 'R'
        continue;
      }
      spares[pid] = fd;
    } else if (tag == wire::kClean) {
      // Anything but kCleaned tells the server to replace us with a fresh boundary.
      const char reply = clean_between_commands() ? wire::kCleaned : wire::kClean;
      if (!write_all(control, &reply, 1)) return 0;
    } else if (got == 1) {
      ::close(fd);
    }
  }
}
