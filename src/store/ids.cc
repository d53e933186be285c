#include "store/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>

#include "common/errors.h"

namespace agentfense::store {

std::string new_id(std::string_view prefix) {
  uint8_t bytes[8];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t got = ::getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    check_syscall(got, "getrandom");
    filled += static_cast<size_t>(got);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (uint8_t byte : bytes) {
    id += kHex[byte >> 4];
    id += kHex[byte & 0xf];
  }
  return id;
}

}  // namespace agentfense::store
