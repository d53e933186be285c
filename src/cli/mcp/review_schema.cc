#include "cli/mcp/review_schema.h"

#include "cli/mcp/workspace_script.h"
#include "common/errors.h"
#include "common/text_safety.h"

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

namespace {

// `changes` names a path that is not UTF-8 git-quoted ("/output/caf\377"), as the API
// does, so that quoted form must select it again: decode it before normalizing, or it
// would be taken as a literal name starting with '"' and select nothing.
std::string change_path(const nlohmann::json& raw) {
  const std::string text = raw.get<std::string>();
  std::string path;
  try {
    path = path_from_wire(text);
  } catch (const UserError& error) {
    throw ToolFailure(std::string("bad path: ") + error.what());
  }
  return workspace_path({{"path", path}}, "path", true).api;
}

}  // namespace

std::vector<std::string> paths_argument(const nlohmann::json& args) {
  std::vector<std::string> paths;
  for (const auto& raw : args.value("paths", nlohmann::json::array()))
    paths.push_back(change_path(raw));
  return paths;
}

}  // namespace agentfense::cli::mcp
