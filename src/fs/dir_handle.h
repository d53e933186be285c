// Directory fds of the presented tree, shared so that closing one never pulls it from
// under a request still using it. A node does not own its directory fds (one fd per known
// directory exceeds the open-file limit on large trees, DESIGN.md): it remembers which
// host directory it is (device and inode number) and DirFdCache keeps a bounded number
// of them open; an evicted one is reopened beneath its layer's root and accepted only if
// it is still that same directory.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::fs {

// Which host directory a node has in one layer.
struct DirId {
  bool present = false;  // false: the node has no directory in this layer
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const DirId&) const = default;
};

struct DirFd {
  DirFd(UniqueFd dir_fd, DirId dir_id) : fd(std::move(dir_fd)), id(dir_id) {}
  int get() const { return fd.get(); }

  const UniqueFd fd;  // O_PATH | O_DIRECTORY
  const DirId id;
  // Set on every use; the cache gives a used entry a second chance before evicting it.
  mutable std::atomic<bool> used{true};
};
using DirHandle = std::shared_ptr<const DirFd>;

// Wraps an open O_PATH directory fd with its identity. Null (errno set) when `fd` is
// invalid or cannot be stat'ed.
DirHandle make_dir_handle(UniqueFd fd);

// Reopens the directory `path` (a workspace path, "/" for the root) beneath `root`, the
// fd of its layer's root, without following symlinks or leaving the layer; long paths are
// resolved in pieces. Null with errno set on failure, ESTALE when a different directory
// is now at that path.
DirHandle reopen_dir(int root, const std::string& path, const DirId& expected);

}  // namespace agentfense::fs
