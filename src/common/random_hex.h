// Unguessable values from the kernel's random pool (getrandom): ids, tokens, nonces and
// temporary names that nobody else may predict or collide with.
#pragma once

#include <cstddef>
#include <string>

namespace agentfense {

// Fills `size` bytes at `out`. Throws SystemError when getrandom fails.
void fill_random(void* out, std::size_t size);

// `bytes` random bytes as 2 * bytes lower-case hex digits.
std::string random_hex(std::size_t bytes);

}  // namespace agentfense
