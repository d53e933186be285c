// MCP over stdio: newline-delimited JSON-RPC messages on stdin, answers and notifications
// on stdout, one line each. Runs until stdin ends or a stop signal arrives. After a stop
// signal running tool calls are cancelled at once; after end of input they get 5 s to
// answer while stdout can take it, then are cancelled; cancelled calls are waited for. Each
// tools/call runs on a thread of its own so that ping and notifications/cancelled are answered
// while a command runs.
#pragma once

#include "cli/mcp/protocol.h"
#include "cli/mcp/stop_signals.h"

namespace agentfense::cli::mcp {

// Returns the signal that ended it, or 0 for end of input.
int serve_stdio(McpSession& session, int in_fd, int out_fd, const StopSignals& signals);

}  // namespace agentfense::cli::mcp
