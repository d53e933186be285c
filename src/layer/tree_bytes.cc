#include "layer/tree_bytes.h"

#include <algorithm>

#include "layer/safe_walk.h"

namespace agentfense::layer {

std::int64_t charged_file_bytes(std::int64_t size) {
  return std::max(size, kEntryBlockBytes);
}

std::int64_t charged_bytes(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return charged_file_bytes(st.st_size);
  if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) return kEntryBlockBytes;
  return 0;
}

std::int64_t file_bytes_below(int dir_fd) {
  std::int64_t total = 0;
  for_each_entry_below(dir_fd, [&total](const struct stat& st) {
    if (S_ISREG(st.st_mode)) total += st.st_size;
  });
  return total;
}

std::int64_t charged_bytes_below(int dir_fd) {
  std::int64_t total = 0;
  for_each_entry_below(dir_fd, [&total](const struct stat& st) { total += charged_bytes(st); });
  return total;
}

}  // namespace agentfense::layer
