// A lock file a process holds for its whole life (an fs process its write layer, the
// server its data directory): flock, exclusive, never waiting, so the kernel drops it
// however the process ends and a crash never leaves a stale lock. The holder writes its
// pid into the file, only so that whoever is refused can name it.
#pragma once

#include <optional>
#include <string>

namespace agentfense {

// Locks open file `fd` and records our pid in it: true. False when another process holds
// the lock, with `holder` set to the pid it recorded ("" when it wrote none yet). Throws
// SystemError naming `shown` for any other failure.
bool lock_recording_pid(int fd, const std::string& shown, std::string* holder);

// The pid recorded in lock file `fd` ("" when unreadable or not written yet).
std::string recorded_pid(int fd);

}  // namespace agentfense
