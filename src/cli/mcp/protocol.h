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
#include <variant>

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

class McpSession;

// A tools/call admitted to run: it holds its request id's place among the running calls
// (so cancellation reaches it) until it is destroyed.
class AdmittedCall {
 public:
  AdmittedCall(McpSession& session, Message message, const Tool& tool, json progress_token,
               std::shared_ptr<Cancellation> cancellation);
  AdmittedCall(const AdmittedCall&) = delete;
  AdmittedCall& operator=(const AdmittedCall&) = delete;
  ~AdmittedCall();

 private:
  friend class McpSession;
  McpSession& session_;
  const Message message_;
  const Tool& tool_;
  const json progress_token_;  // null, or the string or integer the client chose
  const std::shared_ptr<Cancellation> cancellation_;
};

class McpSession {
 public:
  // Tool calls of one session running at once (each may hold a sandboxed command with
  // its own memory and pids limits): more are refused, not queued, so that an agent
  // cannot pile up commands or threads. The server's concurrent_execs example is 16 too.
  static constexpr std::size_t kMaxRunningCalls = 16;

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
  // tools/call in two steps, so that a transport admits calls on its reading thread (in
  // message order) and runs them elsewhere. admit() gives either the response to send at
  // once (a bad request, an id already in flight, too many calls running) or the call.
  std::variant<json, std::unique_ptr<AdmittedCall>> admit(const Message& message);
  // Runs it, on any thread: the response, or nothing when the client cancelled it.
  std::optional<json> run(AdmittedCall& call, const Notify& notify);

  bool initialized() const { return initialized_; }
  // Kills every running tool call (shutdown, HTTP session deleted).
  void cancel_all();
  // Kills the call with this request id, if it runs (its client went away).
  void cancel(const json& id);

 private:
  friend class AdmittedCall;
  json initialize(const json& params);
  std::unique_ptr<AdmittedCall> admit_call(const Message& message);
  void notification(const Message& message);
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
