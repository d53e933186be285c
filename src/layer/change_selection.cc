#include "layer/change_selection.h"

#include <algorithm>

#include "common/errors.h"
#include "common/text_safety.h"
#include "layer/safe_walk.h"
#include "policy/policy.h"

namespace agentfense::layer {

std::string selection_path_from_wire(std::string_view text) {
  try {
    return policy::normalize_path(path_from_wire(text));
  } catch (const UserError& error) {
    throw UserError("bad path '" + escape_text(text, {}) + "': " + error.what());
  }
}

bool ChangeSelection::selects(std::string_view path) const {
  return everything() || std::any_of(paths_.begin(), paths_.end(), [&](const std::string& named) {
           return is_same_or_under(path, named);
         });
}

}  // namespace agentfense::layer
