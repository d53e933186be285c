#include "fs/mount.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <optional>

#include "common/errors.h"
#include "common/log.h"
#include "common/open_file_limit.h"
#include "common/unique_fd.h"
#include "fs/control_ops.h"
#include "fs/control_server.h"
#include "fs/open_watch.h"
#include "fs/prewarm_child.h"
#include "fs/session.h"
#include "layer/state_lock.h"

namespace agentfense::fs {
namespace {

void signal_ready(int fd) {
  if (fd < 0) return;
  const char byte = 1;
  // If the parent went away nobody is waiting; serving continues regardless.
  (void)!::write(fd, &byte, 1);
  (void)::close(fd);
}

class SignalHandlers {
 public:
  explicit SignalHandlers(fuse_session* session) : session_(session) {
    // libfuse only installs its handler over SIG_DFL. A shell starts background jobs
    // with SIGINT ignored, so `agentfense mount ... &` would never stop on Ctrl-C/kill
    // -INT: the stop signals are ours to handle whatever we inherited.
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) (void)::signal(sig, SIG_DFL);
    if (fuse_set_signal_handlers(session_) != 0) session_ = nullptr;
  }
  ~SignalHandlers() {
    if (session_) fuse_remove_signal_handlers(session_);
  }
  SignalHandlers(const SignalHandlers&) = delete;
  SignalHandlers& operator=(const SignalHandlers&) = delete;

 private:
  fuse_session* session_;
};

// The walker is this binary's `prewarm` command, walking as the mount's owner. It only
// saves time: a walk that cannot start is logged and the mount serves without it.
void start_prewarm(const MountOptions& options, Filesystem& fs,
                   std::optional<PrewarmChild>& walker) {
  try {
    const UniqueFd root(::open(options.mountpoint.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw SystemError("open " + options.mountpoint + " for the warm-up", errno);
    walker.emplace("/proc/self/exe", root.get(), options.owner_uid, options.owner_gid);
    fs.access().set_quiet_pid(walker->pid());
  } catch (const SystemError& error) {
    log::warn("fs.prewarm_unavailable", {{"error", error.what()}});
  }
}

}  // namespace

int serve(const MountOptions& options) {
  raise_open_file_limit();  // the fd cache is sized from the soft limit (it adapts to it)
  // The kernel has already applied the agent's umask to every mode a create, mkdir or
  // mknod request carries (we do not ask for FUSE_CAP_DONT_MASK); ours must not strip
  // bits a second time, or `umask 0; touch f` makes 0644 where a native fs makes 0666.
  // Everything else this process creates passes an explicit, private mode.
  (void)::umask(0);  // cannot fail

  // Before the journal is opened, and released only after the session has unmounted:
  // no second fs process can serve this write layer meanwhile (layer/state_lock.h).
  const layer::StateLock state_lock = layer::StateLock::acquire(options.state_dir);
  Session session(options);
  SignalHandlers handlers(session.raw());
  // After the session (destroyed before it); its last events are read before the unmount.
  std::optional<OpenWatch> opens;
  // Ready only once opens are recorded (see OpenWatch) and the control socket listens:
  // the agent and the supervisor's requests start after that.
  std::promise<void> control_listening;
  if (session.recorder()) {
    opens.emplace(session.filesystem(), options.mountpoint,
                  [fd = options.ready_fd, listening = control_listening.get_future().share()] {
                    try {
                      listening.get();
                      signal_ready(fd);
                    } catch (const std::future_error&) {
                      // Setting up the control socket failed: serve() is throwing.
                    }
                  });
    // Requests stop before `opens` goes: run() returns after the unmount and after the
    // io_uring threads are joined. Its last events are read before the unmount (below).
    session.filesystem().set_open_events(&*opens);
  }
  // The warm-up walker. Killed (even mid-request: FUSE waits are killable) after the
  // control server that reports on it stops, before the session ends. Its requests
  // queue until the loop below runs, so it is quiet before it can cause a single event.
  std::optional<PrewarmChild> prewarm;
  if (options.prewarm) start_prewarm(options, session.filesystem(), prewarm);
  // Declared after the session so it stops (and finishes any request it is serving)
  // before the filesystem it works on is destroyed.
  std::optional<ControlOps> control_ops;
  std::optional<ControlServer> control;
  if (!options.control_socket.empty()) {
    control_ops.emplace(session.filesystem(), session.raw(), opens ? &*opens : nullptr,
                        prewarm ? &*prewarm : nullptr);
    control.emplace(options.control_socket,
                    [&ops = *control_ops](std::string_view line) { return ops.handle(line); });
  }
  // Once the loop ends and before the unmount: no control request may still run while
  // the session comes down (a commit or refresh sends kernel notifications through the
  // transport being stopped), the walker the control server reports on goes with it,
  // and then the last opens are read.
  session.set_before_unmount([&] {
    control.reset();
    control_ops.reset();
    prewarm.reset();
    if (opens) opens->drain(std::chrono::seconds(2));
  });
  if (opens) {
    control_listening.set_value();
  } else {
    signal_ready(options.ready_fd);
  }
  return session.run();
}

}  // namespace agentfense::fs
