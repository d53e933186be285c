// JSON-RPC 2.0 framing as MCP uses it: one message is one JSON object (MCP 2025-06-18
// dropped batches); a request carries a string or integer id, a notification none.
// parse_message() classifies a message or produces the error response the spec asks for
// (-32700 for text that is not JSON, -32600 for JSON that is not a valid message).
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace agentfense::cli::mcp {

using nlohmann::json;

enum RpcCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
};

// Thrown by a method handler: answered as a JSON-RPC error with this code.
class RpcError : public std::runtime_error {
 public:
  RpcError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct Message {
  enum class Kind { kRequest, kNotification, kResponse };
  Kind kind;
  json id;  // requests and responses
  std::string method;
  json params = json::object();  // always an object for requests/notifications
};

// Either the message or the error response to send back.
using Parsed = std::variant<Message, json>;
Parsed parse_message(std::string_view text);

json make_result(const json& id, json result);
json make_error(const json& id, int code, const std::string& message);
json make_notification(const std::string& method, json params);

// One line of JSON (no newline inside: strings escape theirs). Text that is not UTF-8
// (a command's binary output) is replaced by U+FFFD rather than failing the message.
std::string serialize(const json& message);

// A stable map key for a request id (1 and "1" are different ids).
std::string id_key(const json& id);

}  // namespace agentfense::cli::mcp
