#include "common/dir_stream.h"

#include <fcntl.h>

#include <cerrno>
#include <string_view>
#include <utility>

namespace agentfense {

DirStream::DirStream(int dir_fd) {
  UniqueFd readable(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!readable) {
    error_ = errno;
    return;
  }
  open_fd(std::move(readable));
}

DirStream DirStream::adopt(UniqueFd readable) {
  DirStream stream;
  if (readable)
    stream.open_fd(std::move(readable));
  else
    stream.error_ = EBADF;
  return stream;
}

void DirStream::open_fd(UniqueFd readable) {
  dir_.reset(::fdopendir(readable.get()));
  if (!dir_) {
    error_ = errno;
    return;  // `readable` closes it: fdopendir did not take it
  }
  (void)readable.release();  // owned by the stream now
}

DirStream::DirStream(const char* path) : dir_(::opendir(path)) {
  if (!dir_) error_ = errno;
}

const dirent* DirStream::next() {
  if (!dir_ || error_ != 0) return nullptr;
  while (true) {
    errno = 0;  // readdir returns nullptr both at the end and on error
    const dirent* entry = ::readdir(dir_.get());
    if (!entry) {
      error_ = errno;
      return nullptr;
    }
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") return entry;
  }
}

}  // namespace agentfense
