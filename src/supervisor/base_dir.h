// Opens the codebase directory the user named, with one clear error when it is missing or
// not a directory. All later host access is relative to this fd.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace agentfense::supervisor {

UniqueFd open_base_dir(const std::string& dir);

}  // namespace agentfense::supervisor
