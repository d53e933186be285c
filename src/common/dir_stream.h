// The one owner of a DIR* listing and the one readdir loop: every directory listing in
// AgentFense goes through DirStream (layer/safe_walk.h list_names is built on it), so no
// error path can leak a stream and none forgets that readdir reports errors only through
// errno. Never throws: FUSE handlers list directories too.
#pragma once

#include <dirent.h>

#include <memory>

#include "common/unique_fd.h"

namespace agentfense {

class DirStream {
 public:
  // The directory `dir_fd` (an O_PATH fd will do: "." is opened again for reading, and
  // `dir_fd` stays the caller's).
  explicit DirStream(int dir_fd);
  // A host directory by path, for kernel-provided ones such as /proc/self/fd.
  explicit DirStream(const char* path);
  // Takes over `readable`, a directory fd opened for reading (invalid: error() EBADF).
  static DirStream adopt(UniqueFd readable);

  // False when the directory could not be opened; error() says why.
  explicit operator bool() const { return dir_ != nullptr; }
  // The errno of the failed open or of the readdir that ended the listing early; 0
  // otherwise.
  int error() const { return error_; }
  // The stream's own fd, for *at() calls on the entries (and to skip it in /proc/self/fd).
  int fd() const { return ::dirfd(dir_.get()); }

  // The next entry other than "." and ".."; nullptr at the end or on a readdir error.
  const dirent* next();

 private:
  struct Closer {
    // A read-only stream: nothing is lost when its close fails.
    void operator()(DIR* dir) const { (void)::closedir(dir); }
  };
  DirStream() = default;
  void open_fd(UniqueFd readable);

  std::unique_ptr<DIR, Closer> dir_;
  int error_ = 0;
};

}  // namespace agentfense
