#include "cli/mcp/review_schema.h"

#include "cli/mcp/workspace_script.h"

namespace agentfense::cli::mcp {

nlohmann::json paths_input_schema(const char* what) {
  return {{"type", "object"},
          {"properties",
           {{"paths",
             {{"type", "array"},
              {"items", {{"type", "string"}}},
              {"description", std::string("Only these paths (and what is below them) ") + what +
                                  "; default: every change"}}}}},
          {"additionalProperties", false}};
}

nlohmann::json no_input_schema() {
  return {{"type", "object"},
          {"properties", nlohmann::json::object()},
          {"additionalProperties", false}};
}

nlohmann::json string_list_schema() {
  return {{"type", "array"}, {"items", {{"type", "string"}}}};
}

std::vector<std::string> paths_argument(const nlohmann::json& args) {
  std::vector<std::string> paths;
  for (const auto& raw : args.value("paths", nlohmann::json::array()))
    paths.push_back(workspace_path({{"path", raw}}, "path", true).api);
  return paths;
}

}  // namespace agentfense::cli::mcp
