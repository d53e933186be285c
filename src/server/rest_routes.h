// The REST route table: every /v1 route and how its request message is assembled and
// its result rendered (see rest_gateway.h for the conventions).
#pragma once

#include "server/api.h"
#include "server/rest_router.h"

namespace agentfense::server {

void AddRestRoutes(RestRouter& router, CodebaseApi& codebases, SandboxApi& sandboxes);

}  // namespace agentfense::server
