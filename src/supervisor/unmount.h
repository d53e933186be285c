// Detaching a sandbox's FUSE mount, as root or rootless. Root calls umount2 directly;
// an unprivileged caller cannot (umount2 needs CAP_SYS_ADMIN), so its mounts - made by
// libfuse through the setuid fusermount3 - are removed by `fusermount3 -u -z`, which
// only unmounts FUSE mounts the calling user made.
#pragma once

#include <string>

namespace agentfense::supervisor {

// Lazily unmounts whatever is mounted at `path` (never following a symlink there).
// Nothing mounted is the normal case and not an error; failures are ignored: this runs
// in teardown paths, where a leftover is reported by the next sweep, not thrown.
void detach_mount(const std::string& path);

// Aborts the FUSE connection of the mount at `path` (fusectl's connections/N/abort):
// every request waiting on it fails at once, whatever its daemon does. Found through
// /proc/self/mountinfo, never by touching the mount (a hung one would block us too).
// Best effort: without fusectl mounted, or nothing mounted there, nothing happens.
void abort_fuse_connection(const std::string& path);

// True when something is mounted at `path` (a dead FUSE daemon's mount included).
bool is_mountpoint(const std::string& path);

}  // namespace agentfense::supervisor
