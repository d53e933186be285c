// Anonymous in-memory files: how generated content (/etc files, the seccomp program)
// reaches bwrap without ever touching a host path another process could swap.
#pragma once

#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace agentfense::runtime {

// An empty memfd (close-on-exec) named `name` for /proc/self/fd readability.
UniqueFd create_memfd(const std::string& name);

// A memfd holding `content`, sealed against further change and rewound to offset 0 so
// the reader (bwrap) sees exactly these bytes.
UniqueFd sealed_memfd(const std::string& name, std::string_view content);

// Seals `fd` read-only and rewinds it; for memfds filled by a library (seccomp export).
void seal_and_rewind(int fd, const std::string& name);

}  // namespace agentfense::runtime
