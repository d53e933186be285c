// Standard base64 (RFC 4648 §4, with padding): how read_file returns and write_file takes
// content that is not UTF-8 text, since JSON strings cannot carry raw bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace agentfense::cli::mcp {

std::string base64_encode(std::string_view bytes);
// nullopt for text that is not canonical padded base64 (whitespace is not accepted).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace agentfense::cli::mcp
