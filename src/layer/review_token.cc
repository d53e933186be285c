#include "layer/review_token.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/sha256.h"
#include "layer/changes.h"
#include "layer/entry_io.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

// The token hashes an encoding no two different layers share: every change is a record
// of the same eight fields, and every field is its length (8 bytes, little-endian) and
// then its bytes. A file's content enters as its own digest. The first encoding hashed
// file bytes raw with their length after them: a file's NULs could spell further
// changes, and a reviewed binary /a hashed the same as a shorter /a plus an unseen
// executable /b.
constexpr std::string_view kEncoding = "agentfense review token v2";

void add_field(Sha256& hash, std::string_view field) {
  std::uint64_t length = field.size();
  char prefix[8];
  for (char& byte : prefix) {
    byte = static_cast<char>(length & 0xFF);
    length >>= 8;
  }
  hash.update(std::string_view(prefix, sizeof prefix));
  hash.update(field);
}

// What upper holds for a change: empty fields for whatever does not apply.
struct Content {
  bool present = false;  // upper has an entry at the path
  std::string mode;
  std::string link_target;
  std::string file_digest;
  std::string file_bytes;
};

std::pair<std::string, std::int64_t> digest_of(int dir_fd, const std::string& name,
                                               const std::string& path) {
  const UniqueFd file = open_file_for_read(dir_fd, name);
  Sha256 hash;
  char buffer[64 * 1024];
  std::int64_t length = 0;
  for (;;) {
    const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError("read " + path + " for the review token", errno);
    if (n == 0) break;
    hash.update(std::string_view(buffer, static_cast<std::size_t>(n)));
    length += n;
  }
  return {hash.finish_hex(), length};
}

Content content_of(int upper_root, const Change& change) {
  Content out;
  if (change.kind == ChangeKind::kDeleted) return out;
  const PathParts parts = split_path(change.path);
  const UniqueFd parent = open_dir_beneath(upper_root, parts.parent);
  const std::optional<struct stat> st = stat_at(parent.get(), parts.name);
  if (!st) return out;  // a directory listed only as the parent of its changes
  out.present = true;
  out.mode = std::to_string(st->st_mode & 07777);
  if (S_ISLNK(st->st_mode)) out.link_target = read_link_at(parent.get(), parts.name);
  if (S_ISREG(st->st_mode)) {
    auto [digest, length] = digest_of(parent.get(), parts.name, change.path);
    out.file_digest = std::move(digest);
    out.file_bytes = std::to_string(length);
  }
  return out;
}

}  // namespace

std::string review_token(int base_dirfd, const Journal& j, const Scope& scope,
                         const ChangeSelection& only) {
  Sha256 hash;
  add_field(hash, kEncoding);
  std::optional<std::string> after;
  for (;;) {
    std::size_t more = 0;
    const std::vector<Change> changes = list_changes_after(
        base_dirfd, j, scope, only, after, kMaxListedPathBytes, /*exact=*/false, &more);
    for (const Change& change : changes) {
      const Content content = content_of(j.upper_fd(), change);
      const std::string kind = std::to_string(static_cast<int>(change.kind));
      const std::string_view fields[] = {change.path,
                                         kind,
                                         std::string_view(&change.type, 1),
                                         content.present ? "1" : "",
                                         content.mode,
                                         content.link_target,
                                         content.file_digest,
                                         content.file_bytes};
      for (const std::string_view field : fields) add_field(hash, field);
    }
    if (more == 0 || changes.empty()) break;
    after = changes.back().path;
  }
  return hash.finish_hex();
}

}  // namespace agentfense::layer
