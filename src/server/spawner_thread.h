// The spawner thread lives in supervisor/ now: the CLI's MCP server needs it too.
#pragma once

#include "supervisor/spawner_thread.h"

namespace agentfense::server {
using supervisor::SpawnerThread;
}  // namespace agentfense::server
