#include "cli/mcp/protocol.h"

#include "cli/mcp/sandbox_access.h"

namespace agentfense::cli::mcp {
namespace {

const json& params_object(const json& params, const char* key) {
  static const json kEmpty = json::object();
  const auto it = params.find(key);
  if (it == params.end() || it->is_null()) return kEmpty;
  if (!it->is_object())
    throw RpcError(kInvalidParams, std::string("\"") + key + "\" must be an object");
  return *it;
}

}  // namespace

bool supported_protocol_version(const std::string& version) {
  for (const char* known : kProtocolVersions) {
    if (version == known) return true;
  }
  return false;
}

McpSession::McpSession(const ToolTable& tools, SandboxAccess& sandbox,
                       const ServerIdentity& identity)
    : tools_(tools), sandbox_(sandbox), identity_(identity), shells_(sandbox) {}

McpSession::~McpSession() {
  cancel_all();
}

void McpSession::cancel_all() {
  std::lock_guard lock(mu_);
  closing_ = true;
  for (auto& [id, cancellation] : in_flight_) cancellation->cancel();
}

std::optional<json> McpSession::handle(const Message& message, const Notify& notify) {
  if (message.kind == Message::Kind::kResponse) return std::nullopt;  // we send no requests
  if (message.kind == Message::Kind::kNotification) {
    notification(message);
    return std::nullopt;
  }
  try {
    const std::string& method = message.method;
    if (method == "initialize") return make_result(message.id, initialize(message.params));
    if (method == "ping") return make_result(message.id, json::object());
    if (method == "tools/list" || method == "tools/call") {
      if (!initialized_) throw RpcError(kInvalidRequest, "the session is not initialized yet");
      if (method == "tools/list") return make_result(message.id, tools_.list());
      auto admitted = admit(message);
      if (auto* refused = std::get_if<json>(&admitted)) return std::move(*refused);
      return run(*std::get<std::unique_ptr<AdmittedCall>>(admitted), notify);
    }
    throw RpcError(kMethodNotFound, "method not found: " + method);
  } catch (const RpcError& error) {
    return make_error(message.id, error.code(), error.what());
  } catch (const json::exception& error) {
    return make_error(message.id, kInvalidParams, std::string("invalid params: ") + error.what());
  }
}

json McpSession::initialize(const json& params) {
  const auto requested = params.find("protocolVersion");
  if (requested == params.end() || !requested->is_string())
    throw RpcError(kInvalidParams, "initialize: \"protocolVersion\" must be a string");
  std::string version = requested->get<std::string>();
  if (!supported_protocol_version(version)) version = std::end(kProtocolVersions)[-1];
  initialized_ = true;  // the initialized notification only confirms it
  return {
      {"protocolVersion", version},
      {"capabilities", {{"tools", {{"listChanged", false}}}}},
      {"serverInfo",
       {{"name", "agentfense"}, {"title", "AgentFense sandbox"}, {"version", identity_.version}}},
      {"instructions", identity_.instructions}};
}

std::variant<json, std::unique_ptr<AdmittedCall>> McpSession::admit(const Message& message) {
  try {
    if (!initialized_) throw RpcError(kInvalidRequest, "the session is not initialized yet");
    std::unique_ptr<AdmittedCall> call = admit_call(message);
    if (!call) {
      return make_result(message.id,
                         ToolTable::refusal(std::to_string(kMaxRunningCalls) +
                                            " tool calls are already running, the most this "
                                            "server allows; wait for one to finish and call "
                                            "again"));
    }
    return call;
  } catch (const RpcError& error) {
    return make_error(message.id, error.code(), error.what());
  } catch (const json::exception& error) {
    return make_error(message.id, kInvalidParams, std::string("invalid params: ") + error.what());
  }
}

// Null when kMaxRunningCalls calls already run.
std::unique_ptr<AdmittedCall> McpSession::admit_call(const Message& message) {
  const json& params = message.params;
  const auto name = params.find("name");
  if (name == params.end() || !name->is_string())
    throw RpcError(kInvalidParams, "tools/call: \"name\" must be a string");
  const Tool* tool = tools_.find(name->get<std::string>());
  if (!tool) throw RpcError(kInvalidParams, "unknown tool: " + name->get<std::string>());
  (void)params_object(params, "arguments");
  json token = params_object(params, "_meta").value("progressToken", json(nullptr));
  if (!token.is_null() && !token.is_string() && !token.is_number_integer())
    throw RpcError(kInvalidParams, "progressToken must be a string or integer");

  auto cancellation = std::make_shared<Cancellation>();
  std::lock_guard lock(mu_);
  // One slot per id: a second call under a running call's id would take its slot, and
  // then neither notifications/cancelled nor shutdown could reach the first.
  if (in_flight_.contains(id_key(message.id)))
    throw RpcError(kInvalidRequest, "request id " + message.id.dump() + " is already in flight");
  if (in_flight_.size() >= kMaxRunningCalls) return nullptr;
  if (closing_) cancellation->cancel();
  in_flight_.emplace(id_key(message.id), cancellation);
  return std::make_unique<AdmittedCall>(*this, message, *tool, std::move(token),
                                        std::move(cancellation));
}

std::optional<json> McpSession::run(AdmittedCall& call, const Notify& notify) {
  const json& params = call.message_.params;
  const json& args = params_object(params, "arguments");
  const ProgressReporter progress(call.progress_token_, notify);
  ToolCall tool_call{.sandbox = sandbox_,
                     .shells = shells_,
                     .progress = progress,
                     .cancel_fd = call.cancellation_->fd()};
  json result = tools_.call(call.tool_, args, tool_call);
  if (call.cancellation_->cancelled()) return std::nullopt;
  return make_result(call.message_.id, std::move(result));
}

void McpSession::notification(const Message& message) {
  if (message.method == "notifications/initialized") {
    initialized_ = true;
  } else if (message.method == "notifications/cancelled") {
    if (const auto id = message.params.find("requestId"); id != message.params.end()) cancel(*id);
  }
  // Other notifications (progress, roots/list_changed, ...) need no action here.
}

void McpSession::cancel(const json& id) {
  std::lock_guard lock(mu_);
  if (const auto it = in_flight_.find(id_key(id)); it != in_flight_.end()) it->second->cancel();
}

void McpSession::untrack(const json& id) {
  std::lock_guard lock(mu_);
  in_flight_.erase(id_key(id));
}

AdmittedCall::AdmittedCall(McpSession& session, Message message, const Tool& tool,
                           json progress_token, std::shared_ptr<Cancellation> cancellation)
    : session_(session),
      message_(std::move(message)),
      tool_(tool),
      progress_token_(std::move(progress_token)),
      cancellation_(std::move(cancellation)) {}

AdmittedCall::~AdmittedCall() {
  session_.untrack(message_.id);
}

}  // namespace agentfense::cli::mcp
