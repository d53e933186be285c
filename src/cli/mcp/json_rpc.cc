#include "cli/mcp/json_rpc.h"

#include "common/json_depth.h"

namespace agentfense::cli::mcp {
namespace {

// MCP: "the ID MUST NOT be null"; JSON-RPC allows fractions but MCP ids are strings
// or integers.
bool valid_id(const json& id) {
  return id.is_string() || id.is_number_integer();
}

json invalid(const json& id, const std::string& why) {
  return make_error(id, kInvalidRequest, "invalid request: " + why);
}

}  // namespace

Parsed parse_message(std::string_view text) {
  // Deep nesting would be copied recursively below (params) and overflow the stack.
  if (json_nested_deeper_than(text))
    return invalid(nullptr, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error& error) {
    return make_error(nullptr, kParseError, std::string("parse error: ") + error.what());
  }
  if (value.is_array())
    return invalid(nullptr, "batches are not supported (one JSON-RPC message per message)");
  if (!value.is_object()) return invalid(nullptr, "a message must be a JSON object");
  const auto id_it = value.find("id");
  const bool has_id = id_it != value.end();
  const json id = has_id && valid_id(*id_it) ? *id_it : json(nullptr);
  const auto version = value.find("jsonrpc");
  if (version == value.end() || *version != "2.0")
    return invalid(id, "\"jsonrpc\" must be \"2.0\"");
  if (has_id && !valid_id(*id_it)) return invalid(nullptr, "\"id\" must be a string or integer");

  Message message;
  const auto method = value.find("method");
  if (method == value.end()) {
    if (has_id && (value.contains("result") || value.contains("error"))) {
      message.kind = Message::Kind::kResponse;
      message.id = id;
      return message;
    }
    return invalid(id, "\"method\" is missing");
  }
  if (!method->is_string()) return invalid(id, "\"method\" must be a string");
  message.method = method->get<std::string>();
  message.kind = has_id ? Message::Kind::kRequest : Message::Kind::kNotification;
  message.id = id;
  const auto params = value.find("params");
  if (params != value.end() && !params->is_null()) {
    if (!params->is_object()) {
      // Well-formed JSON-RPC (positional params) that no MCP method accepts.
      if (params->is_array() && has_id)
        return make_error(id, kInvalidParams, "invalid params: \"params\" must be an object");
      return invalid(id, "\"params\" must be an object");
    }
    message.params = *params;
  }
  return message;
}

json make_result(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json make_error(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

json make_notification(const std::string& method, json params) {
  return {{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}};
}

std::string serialize(const json& message) {
  return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string id_key(const json& id) {
  return id.dump();
}

}  // namespace agentfense::cli::mcp
