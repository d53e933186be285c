// Identifies a file's content well enough to notice that it was replaced or edited, for
// files the server re-reads when they change (the keys file, TLS certificates): a file
// renamed over it has a new inode, an edited one a new size or mtime. An absent file has
// an all-zero stamp.
#pragma once

#include <sys/stat.h>

#include <string>

namespace agentfense::server {

struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  long mtime_sec = 0;
  long mtime_nsec = 0;

  bool operator==(const FileStamp&) const = default;
  bool exists() const { return inode != 0; }
};

inline FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

}  // namespace agentfense::server
