#include "layer/changes_wire.h"

#include "common/text_safety.h"

namespace agentfense::layer {
namespace {

void paths_to_wire(std::vector<std::string>& paths) {
  for (std::string& path : paths) path = path_to_wire(path);
}

std::map<std::string, std::string> messages_to_wire(
    const std::map<std::string, std::string>& by_path) {
  std::map<std::string, std::string> out;
  for (const auto& [path, text] : by_path)
    out[path_to_wire(path)] = escape_text(text, {.escape_backslash = false});
  return out;
}

}  // namespace

void to_wire(std::vector<Change>& changes) {
  for (Change& change : changes) change.path = path_to_wire(change.path);
}

void to_wire(CommitResult& result) {
  paths_to_wire(result.applied);
  paths_to_wire(result.denied);
  paths_to_wire(result.conflicts);
  result.reasons = messages_to_wire(result.reasons);
  result.notes = messages_to_wire(result.notes);
}

}  // namespace agentfense::layer
