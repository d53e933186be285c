// Sessions in a container run the image's own bash (the user's toolchain, its libc), from
// an execute-only copy, for the reason execute_only_shell.h gives: exec of a file the
// process cannot read makes it non-dumpable, so no other process in the container can
// open its /proc/<pid>/fd, memory or environment, or ptrace it.
//
// The server makes the copy from the host side, through /proc/<init pid>/root of the
// container, into the container's private tmpfs kRuntimeDir (mode 0711, root's: the
// sandbox's uid can execute the copy but neither read it nor change that directory).
// Paths inside the image are resolved with openat2(RESOLVE_IN_ROOT): an image whose
// /usr/bin/bash is a symlink to /etc/shadow names the container's file, never the host's.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/unique_fd.h"
#include "runtime/docker/container_init.h"

namespace agentfense::runtime::docker {

// The container's tmpfs for our own files (see container_config.h).
inline constexpr const char* kRuntimeDir = "/run/agentfense";

struct ContainerBash {
  std::string copy;    // the execute-only copy, a path inside the container
  std::string source;  // the image's bash it was copied from ("/usr/bin/bash")
};

// kRuntimeDir of the container whose init is `init`, opened O_PATH (and, when `root` is
// given, the container's root directory there too).
UniqueFd open_runtime_dir(const ContainerInit& init, UniqueFd* root = nullptr);

// Copies the open regular file `source` into the container's kRuntimeDir (`runtime_dir`)
// as `name`, execute-only and root's; returns its path inside the container.
std::string install_execute_only_copy(int runtime_dir, int source, const std::string& name);

// Copies the image's bash (/usr/bin/bash, else /bin/bash) of the container whose init is
// `init`. Throws UserError when the image has no bash (sessions need it), SystemError
// when the copy cannot be made.
ContainerBash install_execute_only_bash(const ContainerInit& init);

}  // namespace agentfense::runtime::docker
