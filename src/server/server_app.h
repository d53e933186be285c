// `agentfense server`: wires the store, the services and both transports together from
// a Config, serves until SIGTERM/SIGINT, then shuts down gracefully (transports stop
// accepting, running sandboxes are stopped and unmounted).
#pragma once

#include "server/config/config.h"

namespace agentfense::server {

// Returns the process exit status. Throws UserError/SystemError when start-up fails.
int run_server(const Config& config);

}  // namespace agentfense::server
