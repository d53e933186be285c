#include "runtime/bwrap_args.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "common/errors.h"

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

void add(std::vector<std::string>& args, std::initializer_list<std::string> items) {
  args.insert(args.end(), items);
}

void add_namespaces(std::vector<std::string>& args, bool network) {
  add(args, {"--unshare-user", "--uid", std::to_string(kAgentUid), "--gid",
             std::to_string(kAgentGid), "--disable-userns", "--unshare-pid", "--unshare-ipc",
             "--unshare-uts", "--hostname", "agentfense", "--unshare-cgroup-try"});
  if (!network) add(args, {"--unshare-net"});
  // --new-session: no TIOCSTI injection into the caller's terminal.
  add(args, {"--die-with-parent", "--new-session", "--cap-drop", "ALL"});
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

std::vector<std::string> bwrap_argv(const BwrapPlan& plan) {
  std::vector<std::string> args = {kBwrapPath};
  add_namespaces(args, plan.network);
  add_host_usr(args);
  add(args, {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  if (plan.etc_files) add_etc(args, *plan.etc_files);
  if (plan.workspace_fd >= 0)
    add(args, {"--bind-fd", std::to_string(plan.workspace_fd), "/workspace"});
  // The sandbox root is a tmpfs holding the generated /etc and the mountpoints; freeze it
  // so the agent cannot add files to /etc or plant top-level directories. /tmp, /dev and
  // /workspace are separate mounts and keep their own modes.
  add(args, {"--remount-ro", "/"});
  add(args, {"--chdir", plan.workdir});
  if (plan.seccomp_fd >= 0) add(args, {"--seccomp", std::to_string(plan.seccomp_fd)});
  args.push_back("--");
  args.insert(args.end(), plan.command.begin(), plan.command.end());
  return args;
}

}  // namespace agentfense::runtime
