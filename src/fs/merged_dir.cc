#include "fs/merged_dir.h"

#include <fcntl.h>

#include <functional>
#include <map>

#include "common/dir_stream.h"
#include "fs/host_io.h"
#include "layer/safe_walk.h"

namespace agentfense::fs {
namespace {

mode_t type_of(const dirent& entry, int dir_fd) {
  switch (entry.d_type) {
    case DT_DIR:
      return S_IFDIR;
    case DT_REG:
      return S_IFREG;
    case DT_LNK:
      return S_IFLNK;
    case DT_FIFO:
      return S_IFIFO;
    case DT_SOCK:
      return S_IFSOCK;
    case DT_CHR:
      return S_IFCHR;
    case DT_BLK:
      return S_IFBLK;
    default:
      break;
  }
  struct stat st;
  if (::fstatat(dir_fd, entry.d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  return st.st_mode & S_IFMT;
}

// Adds the entries of one layer; names already present (from upper) win.
int add_layer(int dir_path_fd, std::map<std::string, mode_t>& entries,
              const std::function<bool(const std::string&)>& hidden,
              const std::function<void(int readable)>& opened) {
  DirStream dir(dir_path_fd);
  if (!dir) return -dir.error();
  if (opened) opened(dir.fd());
  while (const dirent* entry = dir.next()) {
    const std::string name = entry->d_name;
    if (entries.count(name) || hidden(name)) continue;
    const mode_t type = type_of(*entry, dir.fd());
    if (type != 0) entries.emplace(name, type);
  }
  return -dir.error();
}

}  // namespace

int read_merged_dir(int base_dir, int upper_dir, const std::string& dir_path,
                    const layer::Journal& journal, std::vector<ListedEntry>* out,
                    const std::function<void(int readable)>& base_opened) {
  std::map<std::string, mode_t> entries;
  if (upper_dir >= 0) {
    if (int rc = add_layer(
            upper_dir, entries, [](const std::string&) { return false; }, nullptr)) {
      return rc;
    }
  }
  if (base_dir >= 0) {
    auto whited_out = [&](const std::string& name) {
      return journal.is_whiteout(layer::child_path(dir_path, name));
    };
    if (int rc = add_layer(base_dir, entries, whited_out, base_opened)) return rc;
  }
  out->clear();
  out->reserve(entries.size());
  for (auto& [name, type] : entries) out->push_back({name, type});
  return 0;
}

ChildDirFds open_child_dirs(int base_dir, int upper_dir, const std::string& name,
                            const std::string& child, const layer::Journal& journal) {
  ChildDirFds fds;
  bool upper_has_other = false;
  if (upper_dir >= 0) {
    fds.upper = open_dir_path(upper_dir, name);
    struct stat st;
    upper_has_other = !fds.upper && stat_at(upper_dir, name, &st) == 0;
  }
  const bool base_hidden = fds.upper ? journal.is_opaque(child) : journal.is_whiteout(child);
  if (base_dir >= 0 && !upper_has_other && !base_hidden) {
    fds.base = open_dir_path(base_dir, name);
  }
  return fds;
}

}  // namespace agentfense::fs
