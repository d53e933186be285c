// "64M", "1G", "512k", "1048576" -> bytes. Throws UserError naming the flag and text.
#pragma once

#include <cstdint>
#include <string>

namespace agentfense::cli {

std::int64_t parse_size(const std::string& text, const std::string& flag);

}  // namespace agentfense::cli
