#include "cli/rootless.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"

namespace agentfense::cli {

void check_rootless_mount() {
  if (::geteuid() == 0) return;
  if (::access("/dev/fuse", R_OK | W_OK) != 0)
    throw UserError(
        "running without root needs /dev/fuse open to users (mode 0666, as desktop "
        "distributions ship it); see docs/rootless.md");
  struct stat st {};
  if (::stat("/usr/bin/fusermount3", &st) != 0 || !(st.st_mode & S_ISUID) || st.st_uid != 0)
    throw UserError(
        "running without root needs the setuid /usr/bin/fusermount3 (package fuse3); see "
        "docs/rootless.md");
}

void check_rootless_network(bool network) {
  if (!network || ::geteuid() == 0) return;
  if (::access("/dev/net/tun", R_OK | W_OK) == 0) return;
  throw UserError(
      "--network without root needs /dev/net/tun open to users (mode 0666, as Debian and "
      "Ubuntu ship it); it is not here");
}

}  // namespace agentfense::cli
