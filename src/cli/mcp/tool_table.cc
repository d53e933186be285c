#include "cli/mcp/tool_table.h"

#include "cli/mcp/json_rpc.h"
#include "common/errors.h"

namespace agentfense::cli::mcp {
namespace {

bool has_type(const json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  return false;
}

void validate_value(const std::string& name, const json& schema, const json& value) {
  const std::string type = schema.value("type", "");
  if (!has_type(value, type))
    throw ToolFailure("argument '" + name + "' must be of type " + type + ", got " +
                      std::string(value.type_name()));
  if (const auto it = schema.find("enum"); it != schema.end()) {
    bool listed = false;
    for (const json& allowed : *it) listed = listed || allowed == value;
    if (!listed) throw ToolFailure("argument '" + name + "' must be one of " + it->dump());
  }
  if (const auto it = schema.find("minimum"); it != schema.end() && value.get<double>() < *it)
    throw ToolFailure("argument '" + name + "' must be at least " + it->dump());
  if (const auto it = schema.find("items"); it != schema.end()) {
    for (const json& item : value) validate_value(name + "[]", *it, item);
  }
  if (const auto it = schema.find("additionalProperties"); it != schema.end() && it->is_object()) {
    for (const auto& [key, item] : value.items()) validate_value(name + "." + key, *it, item);
  }
}

json text_content(const std::string& text) {
  return json::array({{{"type", "text"}, {"text", text}}});
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json failure(const std::string& message, const json& structured) {
  json result = {{"isError", true}};
  if (structured.is_null()) {
    result["content"] = text_content(message);
  } else {
    result["content"] = text_content(message + "\n" + dump(structured));
    result["structuredContent"] = structured;
  }
  return result;
}

}  // namespace

void validate_arguments(const json& schema, const json& args) {
  if (!args.is_object()) throw ToolFailure("arguments must be an object");
  const json& properties = schema.at("properties");
  for (const auto& [name, value] : args.items()) {
    const auto property = properties.find(name);
    if (property == properties.end()) {
      std::string known;
      for (const auto& [key, unused] : properties.items())
        known += (known.empty() ? "" : ", ") + key;
      throw ToolFailure("unknown argument '" + name + "'" +
                        (known.empty() ? " (this tool takes none)" : " (expected: " + known + ")"));
    }
    validate_value(name, *property, value);
  }
  if (const auto required = schema.find("required"); required != schema.end()) {
    for (const json& name : *required) {
      if (!args.contains(name.get<std::string>()))
        throw ToolFailure("missing required argument '" + name.get<std::string>() + "'");
    }
  }
}

ToolTable::ToolTable(bool allow_commit)
    : tools_{run_tool(),        session_run_tool(), read_file_tool(), write_file_tool(),
             list_files_tool(), changes_tool(),     diff_tool()} {
  if (allow_commit) {
    tools_.push_back(commit_tool());
    tools_.push_back(discard_tool());
  }
}

const Tool* ToolTable::find(const std::string& name) const {
  for (const Tool& tool : tools_) {
    if (tool.name == name) return &tool;
  }
  return nullptr;
}

json ToolTable::list() const {
  json tools = json::array();
  for (const Tool& tool : tools_) {
    tools.push_back({{"name", tool.name},
                     {"title", tool.title},
                     {"description", tool.description},
                     {"inputSchema", tool.input_schema},
                     {"outputSchema", tool.output_schema}});
  }
  return {{"tools", tools}};
}

json ToolTable::call(const Tool& tool, const json& args, ToolCall& call) const {
  try {
    validate_arguments(tool.input_schema, args);
    json structured = tool.handler(args, call);
    return {{"content", text_content(dump(structured))},
            {"structuredContent", std::move(structured)},
            {"isError", false}};
  } catch (const ToolFailure& error) {
    return failure(error.what(), error.structured());
  } catch (const UserError& error) {
    return failure(error.what(), nullptr);
  } catch (const std::exception& error) {
    // The sandbox could not do what was asked (a set-up step failed): the model should
    // see it, the session goes on.
    return failure(std::string("agentfense error: ") + error.what(), nullptr);
  }
}

json ToolTable::refusal(const std::string& message) {
  return failure(message, nullptr);
}

}  // namespace agentfense::cli::mcp
