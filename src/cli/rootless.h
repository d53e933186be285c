// What `run` and `mcp` check up front when started without root (docs/rootless.md), so
// a missing piece of the system is named before anything is mounted, not reported as a
// helper's failure half-way through the launch.
#pragma once

namespace agentfense::cli {

// The mount: libfuse opens /dev/fuse and mounts through the setuid fusermount3 when not
// root. Throws UserError naming what is missing (docs/rootless.md); a no-op as root.
void check_rootless_mount();

// --network: slirp4netns opens /dev/net/tun inside the sandbox's user namespace, which
// works only where the device is open to users (0666, as Debian and Ubuntu ship it).
// Throws UserError otherwise; a no-op as root or without --network.
void check_rootless_network(bool network);

}  // namespace agentfense::cli
