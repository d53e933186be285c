// slirp4netns opens /dev/net/tun itself, as the sandbox's unprivileged host uid. Hosts
// differ in that node's mode (Debian's udev makes it 0666, many container hosts leave
// it 0600 root), so the helper's forked child, while still root, gives itself a private
// mount namespace in which /dev/net holds a tun node owned by that uid. Nothing changes
// on the host; the node exists only for the helper. Opening it only lets a process
// create devices in a network namespace where it already has CAP_NET_ADMIN (the
// sandbox's own). Async-signal-safe.
#pragma once

#include <sys/types.h>

#include "common/child_process.h"

namespace agentfense::runtime {

ChildFailure provide_private_tun_device(uid_t owner, gid_t group);

}  // namespace agentfense::runtime
