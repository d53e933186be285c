// Which names each base directory may serve (layer/stored_names.h), remembered per host
// directory: whether a directory may fold names is asked once (its file system once per
// device; an ext4/tmpfs casefold flag once per directory, from the listing's open fd when
// the directory was listed first), and a directory that may is listed once, again only
// after it changed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>

#include "fs/dir_handle.h"
#include "layer/stored_names.h"

namespace agentfense::fs {

class BaseNames {
 public:
  struct Verdict {
    bool admitted;  // false: `name` would find an entry stored under another name
    bool folds;     // false: no name in the directory ever would (the common case)
  };
  // Whether base directory `dir` (identity `id`) may serve `name` (the caller answers as
  // for an absent name if not). `epoch` is the fs's content epoch: a commit, discard or
  // refresh forgets the listings of folding directories.
  Verdict admits(int dir, const DirId& id, std::string_view name, std::uint64_t epoch);
  // Whether base directory `dir`, being listed through `readable` (its fd open for
  // reading), may fold names: asked of that fd, saving the open a lookup would need.
  bool folds_listed(int dir, const DirId& id, int readable);

 private:
  struct Known {
    std::shared_ptr<const layer::StoredNames> names;
    timespec mtime{};  // of the directory when listed: a change lists it again
    timespec ctime{};
  };
  struct IdHash {
    std::size_t operator()(const DirId& id) const {
      return std::hash<std::uint64_t>()(static_cast<std::uint64_t>(id.ino) * 31 + id.dev);
    }
  };
  // Bounds the memory of a long session over huge folding trees: past it, directories
  // are listed again.
  static constexpr std::size_t kMaxKnown = 1 << 16;

  std::optional<bool> cached(int dir, const DirId& id, std::string_view name, std::uint64_t epoch);
  Verdict learn(int dir, const DirId& id, std::string_view name, std::uint64_t epoch);
  layer::Folding folding_of(int dir, dev_t dev);
  void remember(const DirId& id, Known known, std::uint64_t epoch);

  std::shared_mutex mu_;  // a leaf (filesystem.h); never held across a syscall but fstat
  std::uint64_t epoch_ = 0;
  std::unordered_map<DirId, Known, IdHash> known_;     // folding directories only
  std::unordered_map<dev_t, layer::Folding> devices_;  // a file system's kind, per device
};

}  // namespace agentfense::fs
