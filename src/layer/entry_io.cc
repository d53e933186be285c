#include "layer/entry_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common/errors.h"
#include "layer/journal.h"

namespace agentfense::layer {
namespace {

constexpr size_t kChunk = 64 * 1024;

// Reads up to `size` bytes, retrying short reads; returns how many were read (< size
// only at end of file).
size_t read_fully(int fd, char* buffer, size_t size) {
  size_t total = 0;
  while (total < size) {
    const ssize_t n = check_syscall(::read(fd, buffer + total, size - total), "read");
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  return total;
}

}  // namespace

char type_char(mode_t mode) {
  if (S_ISREG(mode)) return 'f';
  if (S_ISDIR(mode)) return 'd';
  if (S_ISLNK(mode)) return 'l';
  if (S_ISFIFO(mode)) return 'p';
  return 0;
}

UniqueFd open_file_for_read(int dir_fd, const std::string& name) {
  return UniqueFd(
      check_syscall(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC),
                    "open " + name));
}

std::string read_link_at(int dir_fd, const std::string& name) {
  std::vector<char> buffer(256);
  for (;;) {
    const ssize_t n = check_syscall(
        ::readlinkat(dir_fd, name.c_str(), buffer.data(), buffer.size()), "readlink " + name);
    // A result that fills the buffer may be truncated: grow and retry.
    if (static_cast<size_t>(n) < buffer.size()) return std::string(buffer.data(), n);
    buffer.resize(buffer.size() * 2);
  }
}

std::optional<std::string> read_file_at(int dir_fd, const std::string& name, size_t max_bytes) {
  UniqueFd fd = open_file_for_read(dir_fd, name);
  struct stat st {};
  check_syscall(::fstat(fd.get(), &st), "stat " + name);
  if (!S_ISREG(st.st_mode)) throw SystemError("read " + name + ": not a regular file", EINVAL);
  if (static_cast<size_t>(st.st_size) > max_bytes) return std::nullopt;
  std::string content(static_cast<size_t>(st.st_size), '\0');
  content.resize(read_fully(fd.get(), content.data(), content.size()));
  return content;
}

bool same_content(int dir_a, const std::string& name_a, int dir_b, const std::string& name_b) {
  UniqueFd a = open_file_for_read(dir_a, name_a);
  UniqueFd b = open_file_for_read(dir_b, name_b);
  std::vector<char> chunk_a(kChunk), chunk_b(kChunk);
  for (;;) {
    const size_t n_a = read_fully(a.get(), chunk_a.data(), kChunk);
    const size_t n_b = read_fully(b.get(), chunk_b.data(), kChunk);
    if (n_a != n_b || std::memcmp(chunk_a.data(), chunk_b.data(), n_a) != 0) return false;
    if (n_a < kChunk) return true;
  }
}

BaseStamp stamp_of(const struct stat& st) {
  return BaseStamp{st.st_ino, st.st_size,
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace agentfense::layer
