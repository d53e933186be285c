// "did you mean" for unknown config keys: the known key closest in spelling, or one
// with the same last segment in another section (server.max_per_user ->
// sandbox.max_per_user).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentfense::server {

std::optional<std::string> suggest_key(std::string_view unknown,
                                       const std::vector<std::string>& known);

}  // namespace agentfense::server
