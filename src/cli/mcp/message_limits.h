// How large the messages `agentfense mcp` takes may be. write_file's content is the only
// argument that needs more than a few KiB, so it sets the HTTP transport's bound on a
// request body (before, 64 MiB per body with nothing bounding their sum: attack sweep M2).
#pragma once

#include <cstddef>

namespace agentfense::cli::mcp {

// write_file's content, decoded (larger files: write them with a command).
inline constexpr std::size_t kMaxWriteFileBytes = std::size_t{16} << 20;
// One HTTP request body: a write_file of kMaxWriteFileBytes as base64 (4 bytes per 3)
// with room for its JSON-RPC envelope and path.
inline constexpr std::size_t kMaxHttpBodyBytes =
    kMaxWriteFileBytes / 3 * 4 + (std::size_t{1} << 20);

}  // namespace agentfense::cli::mcp
