#include "layer/change_selection.h"

#include <algorithm>
#include <functional>

#include "common/errors.h"
#include "common/text_safety.h"
#include "policy/policy.h"

namespace agentfense::layer {

std::string selection_path_from_wire(std::string_view text) {
  try {
    return policy::normalize_path(path_from_wire(text));
  } catch (const UserError& error) {
    throw UserError("bad path '" + escape_text(text, {}) + "': " + error.what());
  }
}

ChangeSelection::ChangeSelection(std::vector<std::string> paths) : paths_(std::move(paths)) {
  std::sort(paths_.begin(), paths_.end());
  paths_.erase(std::unique(paths_.begin(), paths_.end()), paths_.end());
}

bool ChangeSelection::selects(std::string_view path) const {
  if (everything()) return true;
  const auto named = [this](std::string_view candidate) {
    return std::binary_search(paths_.begin(), paths_.end(), candidate, std::less<>());
  };
  for (std::string_view at = path;;) {
    if (named(at)) return true;
    const std::size_t slash = at.rfind('/');
    if (slash == std::string_view::npos || at == "/") return false;
    at = slash == 0 ? std::string_view("/") : at.substr(0, slash);
  }
}

}  // namespace agentfense::layer
