// `agentfense mount`: serve the filtered view of DIR at MOUNTPOINT until SIGINT/SIGTERM.
// Also the per-sandbox fs process that `run` supervises (--ready-fd, --owner, --state-dir).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "cli/commands.h"
#include "cli/policy_options.h"
#include "cli/quota_options.h"
#include "cli/rootless.h"
#include "cli/trail_location.h"
#include "common/errors.h"
#include "fs/mount.h"
#include "supervisor/base_dir.h"

namespace agentfense::cli {
using supervisor::open_base_dir;
namespace {

struct MountArgs {
  PolicyOptions policy;
  QuotaOptions quota;
  std::string dir, mountpoint, state_dir, owner, audit, audit_id = "local", control_socket;
  std::string audit_max_bytes = kDefaultAuditMaxBytes;
  int ready_fd = -1;
  bool debug = false;
  bool prewarm = false;
  bool shared = false;
};

std::pair<uid_t, gid_t> parse_owner(const std::string& text) {
  if (text.empty()) {
    // A person mounting for local use browses as themselves (sudo users included).
    const char* sudo_uid = std::getenv("SUDO_UID");
    const char* sudo_gid = std::getenv("SUDO_GID");
    if (sudo_uid && sudo_gid) return {std::atoi(sudo_uid), std::atoi(sudo_gid)};
    return {::getuid(), ::getgid()};
  }
  unsigned uid = 0, gid = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%u:%u%c", &uid, &gid, &extra) != 2)
    throw UserError("--owner must be UID:GID, got '" + text + "'");
  return {uid, gid};
}

int run_mount(const MountArgs& args) {
  const policy::Policy compiled = args.policy.compile();
  check_rootless_mount();
  const UniqueFd base = open_base_dir(args.dir);
  check_trail_outside(args.audit, args.dir);
  const auto [uid, gid] = parse_owner(args.owner);
  const fs::QuotaLimits quota = args.quota.limits();

  // Without --state-dir the changes live in a private temporary directory and are
  // discarded at unmount: `mount` is for browsing; `run --changes` is for reviewing.
  std::string state_dir = args.state_dir;
  std::string temp_state;
  if (state_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "agentfense-mount-XXXXXX");
    if (!::mkdtemp(pattern.data())) throw SystemError("mkdtemp", errno);
    state_dir = temp_state = pattern;
  }
  fs::MountOptions options;
  options.base_dirfd = base.get();
  options.state_dir = state_dir;
  options.mountpoint = args.mountpoint;
  options.policy = &compiled;
  options.owner_uid = uid;
  options.owner_gid = gid;
  options.audit_path = args.audit;
  options.audit_sandbox = args.audit_id;
  options.audit_max_bytes = audit_max_bytes(args.audit_max_bytes);
  options.ready_fd = args.ready_fd;
  options.debug = args.debug;
  options.prewarm = args.prewarm;
  options.private_root = !args.shared;
  options.control_socket = args.control_socket;
  options.quota = quota;
  int status = 0;
  try {
    status = fs::serve(options);
  } catch (...) {
    if (!temp_state.empty()) std::filesystem::remove_all(temp_state);
    throw;
  }
  if (!temp_state.empty()) std::filesystem::remove_all(temp_state);
  return status;
}

}  // namespace

Command add_mount_command(CLI::App& app) {
  auto args = std::make_shared<MountArgs>();
  CLI::App* cmd = app.add_subcommand("mount", "Serve the filtered view of DIR at MOUNTPOINT");
  args->policy.add_to(*cmd);
  args->quota.add_to(*cmd);
  cmd->add_option("--state-dir", args->state_dir,
                  "Keep the write layer here (default: temporary, discarded at exit)");
  cmd->add_option("--owner", args->owner, "UID:GID presented as the owner of every file");
  cmd->add_option("--audit", args->audit,
                  "Append audit events (docs/audit.md) to this trail file (hash-chained JSON "
                  "lines; check it with `agentfense audit verify FILE`)");
  cmd->add_option("--audit-id", args->audit_id,
                  "Sandbox id the audit events carry (default: local)");
  add_audit_max_bytes_option(*cmd, args->audit_max_bytes);
  cmd->add_option("--ready-fd", args->ready_fd, "Write one byte to this fd once mounted")
      ->group("");  // internal: used by `run` and the server
  cmd->add_option("--control-socket", args->control_socket,
                  "Serve change review/commit/refresh requests on this unix socket (0600)");
  cmd->add_flag("--shared", args->shared,
                "Let other local users enter the view, as its presented modes allow (default: "
                "only the owner and root; `run` and the server mount under a root-only "
                "directory and pass this)");
  cmd->add_flag("--debug", args->debug, "Log every FUSE request");
  cmd->add_flag("--prewarm", args->prewarm,
                "Once mounted, warm the kernel's caches in the background, at idle priority, "
                "walking as --owner (what the server does for a sandbox)");
  cmd->add_option("DIR", args->dir, "Codebase directory")->required();
  cmd->add_option("MOUNTPOINT", args->mountpoint, "Where to mount the view")->required();
  return [args] { return run_mount(*args); };
}

}  // namespace agentfense::cli
