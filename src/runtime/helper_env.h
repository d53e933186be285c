// The environment of every helper process we start outside the sandbox (bwrap, the fs
// process, the network helper): fixed here, never inherited. A caller's variables
// (LD_PRELOAD, LD_AUDIT, GCONV_PATH, ...) would otherwise run code in a process that
// has not entered any namespace or seccomp filter yet, and the supervisor's own
// environment holds what no helper needs (API keys, cloud credentials).
//
// A NULL-terminated array of literals, so the forked child can pass it to execve
// without allocating (async-signal-safe).
#pragma once

namespace agentfense::runtime {

// PATH only: libfuse looks up fusermount3 through it when not running as root; bwrap
// and slirp4netns read no variable at all.
inline const char* const kHelperEnvironment[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};

inline char* const* helper_environment() {
  // execve's signature predates const; it never writes through the pointers.
  return const_cast<char* const*>(kHelperEnvironment);
}

}  // namespace agentfense::runtime
