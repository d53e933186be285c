// Schemas shared by the review tools (changes, diff, commit, discard): their input is an
// optional list of workspace paths, and the paths they report are the fs process's
// (layer/changes_wire.h: UTF-8, or git-quoted when a name is not).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace agentfense::cli::mcp {

nlohmann::json paths_input_schema(const char* what);
nlohmann::json no_input_schema();
nlohmann::json string_list_schema();

// The "paths" argument, normalized ("src/a" and "/workspace/src/a" -> "/src/a"); a
// git-quoted path (as `changes` lists a name that is not UTF-8) is decoded to its raw
// bytes first.
std::vector<std::string> paths_argument(const nlohmann::json& args);

}  // namespace agentfense::cli::mcp
