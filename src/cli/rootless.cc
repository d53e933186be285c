#include "cli/rootless.h"

#include <unistd.h>

#include "common/errors.h"

namespace agentfense::cli {

void check_rootless_network(bool network) {
  if (!network || ::geteuid() == 0) return;
  if (::access("/dev/net/tun", R_OK | W_OK) == 0) return;
  throw UserError(
      "--network without root needs /dev/net/tun open to users (mode 0666, as Debian and "
      "Ubuntu ship it); it is not here");
}

}  // namespace agentfense::cli
