#include "layer/review_token.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "common/errors.h"
#include "common/sha256.h"
#include "layer/changes.h"
#include "layer/entry_io.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

// Every field ends with a NUL, which no path or number contains: no two different
// sequences of changes hash the same bytes.
void add_field(Sha256& hash, const std::string& field) {
  hash.update(field);
  hash.update(std::string_view("\0", 1));
}

void add_content(Sha256& hash, int upper_root, const Change& change) {
  const PathParts parts = split_path(change.path);
  const UniqueFd parent = open_dir_beneath(upper_root, parts.parent);
  const std::optional<struct stat> st = stat_at(parent.get(), parts.name);
  if (!st) return;  // a directory listed only as the parent of its changes
  add_field(hash, std::to_string(st->st_mode & 07777));
  if (S_ISLNK(st->st_mode)) add_field(hash, read_link_at(parent.get(), parts.name));
  if (!S_ISREG(st->st_mode)) return;
  const UniqueFd file = open_file_for_read(parent.get(), parts.name);
  char buffer[64 * 1024];
  std::int64_t length = 0;
  for (;;) {
    const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError("read " + change.path + " for the review token", errno);
    if (n == 0) break;
    hash.update(std::string_view(buffer, static_cast<std::size_t>(n)));
    length += n;
  }
  add_field(hash, std::to_string(length));
}

}  // namespace

std::string review_token(int base_dirfd, const Journal& j, const Scope& scope,
                         const ChangeSelection& only) {
  Sha256 hash;
  std::optional<std::string> after;
  for (;;) {
    std::size_t more = 0;
    const std::vector<Change> changes = list_changes_after(
        base_dirfd, j, scope, only, after, kMaxListedPathBytes, /*exact=*/false, &more);
    for (const Change& change : changes) {
      add_field(hash, change.path);
      add_field(hash, std::to_string(static_cast<int>(change.kind)) + change.type);
      if (change.kind != ChangeKind::kDeleted) add_content(hash, j.upper_fd(), change);
    }
    if (more == 0 || changes.empty()) break;
    after = changes.back().path;
  }
  return hash.finish_hex();
}

}  // namespace agentfense::layer
