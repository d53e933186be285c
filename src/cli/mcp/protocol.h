// The MCP methods of one client connection (a stdio process or one HTTP session):
// initialize with version negotiation, ping, tools/list, tools/call, and the
// notifications initialized and cancelled. Transports feed it parsed messages
// (json_rpc.h) and send what it returns; tools/call may run on a thread of its own while
// other messages of the same connection are handled.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cli/mcp/cancellation.h"
#include "cli/mcp/json_rpc.h"
#include "cli/mcp/progress.h"
#include "cli/mcp/shell_pool.h"
#include "cli/mcp/tool_table.h"

namespace agentfense::cli::mcp {

class SandboxAccess;

// Handshake-era revisions, oldest first. A client asking for one of them gets it; any
// other request is answered with the newest (the client then decides).
inline constexpr const char* kProtocolVersions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                    "2025-11-25"};
bool supported_protocol_version(const std::string& version);

struct ServerIdentity {
  std::string version;
  std::string instructions;  // what the model is told about the sandbox
};

class McpSession {
 public:
  McpSession(const ToolTable& tools, SandboxAccess& sandbox, const ServerIdentity& identity);
  McpSession(const McpSession&) = delete;
  McpSession& operator=(const McpSession&) = delete;
  ~McpSession();  // cancels what still runs; the shells close with it

  // The response to send for `message`, or nothing: for notifications and responses,
  // and for a request the client cancelled (MCP: no response is sent then).
  // `notify` carries progress notifications of this request (may be empty).
  std::optional<json> handle(const Message& message, const Notify& notify);

  static bool is_tool_call(const Message& message) {
    return message.kind == Message::Kind::kRequest && message.method == "tools/call";
  }
  bool initialized() const { return initialized_; }
  // Kills every running tool call (shutdown, HTTP session deleted).
  void cancel_all();
  // Kills the call with this request id, if it runs (its client went away).
  void cancel(const json& id);

 private:
  json initialize(const json& params);
  std::optional<json> call_tool(const Message& message, const Notify& notify);
  void notification(const Message& message);
  std::shared_ptr<Cancellation> track(const json& id);
  void untrack(const json& id);

  const ToolTable& tools_;
  SandboxAccess& sandbox_;
  const ServerIdentity identity_;
  ShellPool shells_;
  std::atomic<bool> initialized_{false};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Cancellation>> in_flight_;
  bool closing_ = false;
};

}  // namespace agentfense::cli::mcp
