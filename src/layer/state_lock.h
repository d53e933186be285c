// One fs process per STATE directory: two daemons serving one write layer would both
// append to its journal and both change upper/ (two writers on one journal), e.g. when a
// sandbox is started again while the fs process of its previous run is still alive. The
// fs takes this lock before it opens the journal and holds it for its whole life; the
// kernel releases it however the process ends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::layer {

class StateLock {
 public:
  // A lock its holder has just let go of can stay held for a moment: a process that
  // forked on another thread of the holder meanwhile shares the locked open file until it
  // execs (the server forks fs processes and launchers on many threads while its layer
  // calls on stopped sandboxes hold this lock). Waiting this long absorbs that window; an
  // fs process that really still serves the layer is refused only after it.
  static constexpr std::chrono::milliseconds kReleaseGrace{2000};

  // Creates STATE (mode 0700) if missing and locks STATE/lock (flock, exclusive),
  // recording our pid in it, retrying for up to `wait` while another holds it. Throws
  // SystemError(EBUSY) naming the holder's pid when another process still holds it then,
  // SystemError for other failures.
  static StateLock acquire(const std::string& state_dir,
                           std::chrono::milliseconds wait = kReleaseGrace);
  // The pid recorded by the process holding STATE/lock now (0 when it wrote none), or
  // nothing when no process holds it (or there is no lock file). Takes no lock for long
  // and writes nothing. Throws SystemError for other failures.
  static std::optional<pid_t> holder(const std::string& state_dir);

  StateLock(StateLock&&) = default;
  StateLock& operator=(StateLock&&) = default;

 private:
  explicit StateLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace agentfense::layer
