#include "common/random_hex.h"

#include <sys/random.h>

#include <cerrno>
#include <vector>

#include "common/errors.h"

namespace agentfense {

void fill_random(void* out, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  // Short reads happen only for large requests or a signal; loop for both.
  for (std::size_t done = 0; done < size;) {
    const ssize_t got = ::getrandom(bytes + done, size - done, 0);
    if (got < 0 && errno == EINTR) continue;
    check_syscall(got, "getrandom");
    done += static_cast<std::size_t>(got);
  }
}

std::string random_hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::vector<unsigned char> random(bytes);
  fill_random(random.data(), random.size());
  std::string hex;
  hex.reserve(2 * bytes);
  for (const unsigned char byte : random) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

}  // namespace agentfense
