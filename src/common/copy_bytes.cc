#include "common/copy_bytes.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace agentfense {
namespace {

constexpr std::uint64_t kChunk = 1 << 30;

bool pair_unsupported(int error) {
  return error == EXDEV || error == EINVAL || error == EOPNOTSUPP || error == ENOSYS;
}

int read_write(int from, int to, std::uint64_t left) {
  std::vector<char> buffer(1 << 17);
  while (left > 0) {
    const ssize_t n = ::read(from, buffer.data(), std::min<std::uint64_t>(buffer.size(), left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(to, buffer.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return -errno;
      done += w;
    }
    left -= static_cast<std::uint64_t>(n);
  }
  return 0;
}

}  // namespace

int copy_bytes(int from, int to, std::uint64_t limit) {
  std::uint64_t left = limit;
  bool copied_any = false;
  while (left > 0) {
    const ssize_t n = ::copy_file_range(from, nullptr, to, nullptr,
                                        static_cast<size_t>(std::min(left, kChunk)), 0);
    if (n > 0) {
      left -= static_cast<std::uint64_t>(n);
      copied_any = true;
      continue;
    }
    if (n == 0) return 0;  // `from` ended
    if (errno == EINTR) continue;
    // The kernel refuses the pair before copying anything; a refusal after some bytes
    // would be a real error, and both offsets have moved past what was copied anyway.
    if (!copied_any && pair_unsupported(errno)) return read_write(from, to, left);
    return -errno;
  }
  return 0;
}

}  // namespace agentfense
