// How deep a JSON text nests, counted without parsing it. nlohmann::json parses deep
// nesting fine but copies, compares and prints it recursively: 100,000 nested brackets
// in one request overflowed the stack of the server (explaining a refused REST body)
// and of `agentfense mcp` (copying a message's params). Untrusted JSON is measured first.
#pragma once

#include <string_view>

namespace agentfense {

// No request of ours nests anywhere near this deep (an MCP tool call: 3 levels).
inline constexpr int kMaxJsonDepth = 64;

// Whether `text` opens more than `limit` arrays/objects inside each other (strings and
// their escapes skipped; malformed text is left to the parser).
bool json_nested_deeper_than(std::string_view text, int limit = kMaxJsonDepth);

}  // namespace agentfense
