// MCP over streamable HTTP (one endpoint, /mcp): a client POSTs one JSON-RPC message at a
// time. initialize opens a session whose id (Mcp-Session-Id) every later request must
// carry (missing: 400, unknown or ended: 404); DELETE ends it. Notifications are
// answered 202 Accepted. A tools/call is answered as an SSE stream when the client
// accepts text/event-stream (progress notifications, then the result), otherwise as
// JSON; other requests as JSON. GET answers 405: this server sends nothing unasked.
// Every request must carry the endpoint's token ("Authorization: Bearer", http_token.h;
// 401 otherwise), checked before its body is read; requests whose Origin or Host is not a
// loopback name are refused (403), so a web page cannot reach the endpoint through DNS
// rebinding. A body must have a Content-Length (411), of at most kMaxHttpBodyBytes (413),
// that fits what all bodies being answered may hold together (503 otherwise), each
// checked before a byte of it is read; a request's line and headers are bounded too
// (http_connection.h). A client that disconnects cancels
// its tool call. A session nobody uses for `session_idle` (no request, no call running)
// ends, shells and all; at 64 sessions, a new client's initialize ends the least recently
// used one that runs no call. Each connection is answered on a thread of its own (started
// as needed, more than all sessions' running calls together), so long calls never keep
// a cancellation, DELETE or another client waiting.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "cli/mcp/http_address.h"
#include "cli/mcp/http_token.h"
#include "cli/mcp/protocol.h"
#include "cli/mcp/stop_signals.h"

namespace agentfense::cli::mcp {

using SessionFactory = std::function<std::unique_ptr<McpSession>()>;

// Serves until a stop signal arrives; prints the endpoint URL and the header to send on
// stderr once listening. Throws SystemError when the address cannot be bound. Returns the
// signal.
int serve_http(const HttpAddress& address, const HttpToken& token,
               const SessionFactory& make_session, const StopSignals& signals,
               std::chrono::milliseconds session_idle);

}  // namespace agentfense::cli::mcp
