#include "supervisor/run_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <system_error>

#include "common/errors.h"
#include "common/private_dir.h"
#include "supervisor/unmount.h"

namespace agentfense::supervisor {
namespace {

std::string random_suffix() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> dist(0, 0xffffff);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06x", dist(device));
  return buf;
}

// Rootless only: the write layer keeps the agent's modes (a 0555 directory, one of mode
// 0), which root's removal ignores and ours would stop at. Gives every real directory
// of the tree (never a symlink's target) the owner's bits before it is read.
void open_up_tree(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return;
  if ((st.st_mode & S_IRWXU) != S_IRWXU) (void)::chmod(dir.c_str(), (st.st_mode & 07777) | S_IRWXU);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.symlink_status(ec).type() == std::filesystem::file_type::directory)
      open_up_tree(entry.path());
}

bool process_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

std::string runtime_root() {
  if (::geteuid() == 0) return "/run/agentfense";
  // Only a runtime dir that is really ours, as the XDG spec requires (an environment
  // carried over by su or sudo can name another user's).
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/') {
    struct stat st {};
    if (::lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid())
      return std::string(xdg) + "/agentfense";
  }
  return "/tmp/agentfense-" + std::to_string(::geteuid());
}

std::string layer_root() {
  if (::geteuid() == 0) return "/var/lib/agentfense/cli-layers";
  return runtime_root();
}

namespace {

// A run's write layer: beside its run directory's other contents when both roots are the
// same (rootless), else its own directory of the same name under the layer root.
std::string layer_of(const std::string& run_path) {
  const std::string root = layer_root();
  if (root == runtime_root()) return run_path + "/state";
  return root + "/" + std::filesystem::path(run_path).filename().string();
}

// Removes a write layer left outside its run directory, without following symlinks.
void destroy_layer(const std::string& layer) {
  if (::geteuid() != 0) open_up_tree(layer);
  std::error_code ignored;
  std::filesystem::remove_all(layer, ignored);
}

}  // namespace

void destroy_run_dir(const std::string& path) {
  const std::string mountpoint = path + "/mnt";
  detach_mount(mountpoint);
  // Never walk into a view that could not be detached (rootless, fusermount3 failed):
  // the next sweep tries again.
  if (::geteuid() != 0) {
    if (is_mountpoint(mountpoint)) return;
    open_up_tree(path);
  }
  std::error_code ignored;
  // remove_all does not follow symlinks (it removes the link itself).
  std::filesystem::remove_all(path, ignored);
  if (layer_root() != runtime_root()) destroy_layer(layer_of(path));
}

namespace {

// Calls `remove` on each "run-<pid>-*" entry of `root` whose pid is gone; how many.
int sweep_dead_runs(const std::string& root, void (*remove)(const std::string&)) {
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename();
    if (name.rfind("run-", 0) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + 4, nullptr, 10));
    if (process_alive(pid)) continue;
    remove(entry.path());
    ++removed;
  }
  return removed;
}

}  // namespace

int sweep_stale_run_dirs() {
  const std::string root = runtime_root();
  int removed = sweep_dead_runs(root, destroy_run_dir);
  // A layer whose run directory is already gone (a crash between the two removals).
  if (const std::string layers = layer_root(); layers != root)
    removed += sweep_dead_runs(layers, destroy_layer);
  return removed;
}

RunDir RunDir::create() {
  const std::string root = runtime_root();
  (void)open_private_dir(root);
  sweep_stale_run_dirs();
  const std::string path = root + "/run-" + std::to_string(::getpid()) + "-" + random_suffix();
  if (const std::string layers = layer_root(); layers != root) {
    // Its parent may be the server's data directory (/var/lib/agentfense): created if
    // missing, never re-moded; the layer root itself is ours alone.
    const std::string parent = std::filesystem::path(layers).parent_path();
    if (::mkdir(parent.c_str(), 0755) < 0 && errno != EEXIST)
      throw SystemError("mkdir " + parent, errno);
    (void)open_private_dir(layers);
  }
  check_syscall(::mkdir(path.c_str(), 0700), "mkdir " + path);
  RunDir dir(path, layer_of(path));
  check_syscall(::mkdir(dir.state_dir().c_str(), 0700), "mkdir " + dir.state_dir());
  check_syscall(::mkdir(dir.mountpoint().c_str(), 0700), "mkdir " + dir.mountpoint());
  return dir;
}

RunDir::RunDir(RunDir&& other) noexcept
    : path_(std::move(other.path_)), state_(std::move(other.state_)) {
  other.path_.clear();
  other.state_.clear();
}

RunDir::~RunDir() {
  if (!path_.empty()) destroy_run_dir(path_);
}

}  // namespace agentfense::supervisor
