#include "runtime/bwrap_args.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <string_view>

#include "common/dir_stream.h"
#include "common/errors.h"
#include "runtime/command_aliases.h"
#include "runtime/proc_masks.h"

namespace agentfense::runtime {
namespace {

// Top-level host entries that merged-/usr Debian makes symlinks into /usr (recreated
// as the same symlinks), or real directories on other layouts (bound read-only).
constexpr std::array kUsrAliases = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

// Host /etc entries programs need in order to work: the dynamic linker cache, CA
// certificates (TLS), Debian alternatives (python3, editor, awk... resolve through
// them) and the time zone. Everything else in host /etc stays invisible.
// (/etc/ssl/private is deliberately not among them.)
constexpr std::array kHostEtcReadOnly = {"/etc/ld.so.cache", "/etc/ssl/certs",
                                         "/etc/ssl/openssl.cnf", "/etc/alternatives",
                                         "/etc/localtime"};

// The /proc masks (proc_masks.h): each present file is covered by /dev/null (bound
// nodev: opening it fails with EACCES) unless its mode already keeps the sandbox out;
// each directory with entries by an empty read-only tmpfs.

void add(std::vector<std::string>& args, std::initializer_list<std::string> items) {
  args.insert(args.end(), items);
}

void add_namespaces(std::vector<std::string>& args) {
  // Always a private network namespace: with network access on, a helper connects it
  // to the outside (network_helper.h); the host's own namespace, and with it the host's
  // loopback services, is never shared.
  add(args, {"--unshare-user", "--uid", std::to_string(kAgentUid), "--gid",
             std::to_string(kAgentGid), "--disable-userns", "--unshare-pid", "--unshare-ipc",
             "--unshare-uts", "--hostname", "agentfense", "--unshare-cgroup-try", "--unshare-net"});
  // --new-session: no TIOCSTI injection into the caller's terminal.
  add(args, {"--die-with-parent", "--new-session", "--cap-drop", "ALL"});
}

// The sandbox's procfs has the same global files as the host's; a mask is only added
// for what exists (bwrap cannot create a mountpoint inside procfs).
// Every mask costs bwrap a mount plus a mountinfo scan (~0.1 ms each), so only what the
// sandbox could otherwise use is covered: files readable or writable by "other" (the
// sandbox's uid is neither their owner nor in their group), directories with entries.
bool open_to_others(const char* path) {
  struct stat st;
  return ::stat(path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)) != 0;
}

bool has_entries(const char* path) {
  DirStream dir(path);
  return dir && dir.next() != nullptr;
}

void add_proc(std::vector<std::string>& args) {
  add(args, {"--proc", "/proc"});
  for (const char* file : kMaskedProcFiles)
    if (open_to_others(file)) add(args, {"--ro-bind", "/dev/null", file});
  for (const char* dir : kMaskedProcDirs)
    if (has_entries(dir)) add(args, {"--tmpfs", dir, "--remount-ro", dir});
}

// The command's environment exactly, nothing of ours: bwrap itself runs with
// helper_env.h's and hands this one to the command alone.
void add_environment(std::vector<std::string>& args, const std::vector<std::string>& env) {
  args.push_back("--clearenv");
  for (const std::string& entry : env) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError("invalid environment entry '" + entry.substr(0, entry.find('=')) + "'");
    add(args, {"--setenv", entry.substr(0, eq), entry.substr(eq + 1)});
  }
}

void add_host_usr(std::vector<std::string>& args) {
  add(args, {"--ro-bind", "/usr", "/usr"});
  for (const std::string alias : kUsrAliases) {
    char target[256];
    const ssize_t length = ::readlink(alias.c_str(), target, sizeof target - 1);
    if (length > 0) {
      add(args, {"--symlink", std::string(target, static_cast<std::size_t>(length)), alias});
    } else {
      add(args, {"--ro-bind-try", alias, alias});  // absent on this host: skipped
    }
  }
}

// python -> python3 and the like, where the host lacks them (command_aliases.h).
void add_command_aliases(std::vector<std::string>& args) {
  for (const CommandAlias& alias : missing_command_aliases())
    add(args, {"--symlink", alias.target, std::string(kCommandAliasDir) + "/" + alias.name});
}

void add_etc(std::vector<std::string>& args, const std::vector<GeneratedFile>& files) {
  for (const GeneratedFile& file : files)
    add(args, {"--perms", "0444", "--ro-bind-data", std::to_string(file.content.get()),
               file.destination});
  for (const std::string path : kHostEtcReadOnly) add(args, {"--ro-bind-try", path, path});
}

}  // namespace

std::string resolve_workdir(const std::string& workdir) {
  if (workdir.empty()) return "/workspace";
  const std::string absolute = workdir.front() == '/' ? workdir : "/workspace/" + workdir;
  if (absolute.find("/..") != std::string::npos)
    throw UserError("workdir must not contain '..': " + workdir);
  return absolute;
}

std::vector<std::string> bwrap_options(const BwrapPlan& plan) {
  std::vector<std::string> args;
  add_namespaces(args);
  if (plan.info_fd >= 0) add(args, {"--info-fd", std::to_string(plan.info_fd)});
  if (plan.block_fd >= 0) add(args, {"--block-fd", std::to_string(plan.block_fd)});
  add_host_usr(args);
  add_command_aliases(args);
  add_proc(args);
  add(args, {"--dev", "/dev"});
  // /dev is a tmpfs of bwrap's that the agent owns: left writable, a command could leave
  // files there for the next one (unbounded, uncharged to the memory limit once its
  // cgroup is gone) or replace /dev/stdout with a symlink into the workspace, capturing
  // a later command's output. It is frozen; /dev/shm, part of it, becomes a tmpfs of its
  // own (emptied between commands like /tmp). Devices stay writable on a read-only mount.
  // Sized from the memory limit (sandbox_process.cc): a full /tmp or /dev/shm fails with
  // ENOSPC.
  const auto add_sized_tmpfs = [&](const char* path) {
    if (plan.tmp_size > 0) add(args, {"--size", std::to_string(plan.tmp_size)});
    add(args, {"--tmpfs", path});
  };
  add_sized_tmpfs("/dev/shm");
  add(args, {"--remount-ro", "/dev"});
  add_sized_tmpfs("/tmp");
  if (plan.etc_files) add_etc(args, *plan.etc_files);
  if (plan.workspace_fd >= 0)
    add(args, {"--bind-fd", std::to_string(plan.workspace_fd), "/workspace"});
  else if (plan.workspace_later)
    add(args, {"--dir", "/workspace"});
  // The sandbox root is a tmpfs holding the generated /etc and the mountpoints; freeze it
  // so the agent cannot add files to /etc or plant top-level directories. /tmp, /dev and
  // /workspace are separate mounts and keep their own modes.
  add(args, {"--remount-ro", "/"});
  add(args, {"--chdir", plan.workdir});
  add_environment(args, plan.env);
  if (plan.seccomp_fd >= 0) add(args, {"--seccomp", std::to_string(plan.seccomp_fd)});
  return args;
}

std::vector<std::string> bwrap_command_line(int args_fd, const std::vector<std::string>& command) {
  std::vector<std::string> argv = {kBwrapPath, "--args", std::to_string(args_fd), "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

std::string join_bwrap_options(const std::vector<std::string>& options) {
  std::string joined;
  for (const std::string& option : options) {
    if (option.find('\0') != std::string::npos)
      throw UserError("bwrap option holds a NUL byte: " + option.substr(0, option.find('\0')));
    joined += option;
    joined.push_back('\0');
  }
  return joined;
}

}  // namespace agentfense::runtime
