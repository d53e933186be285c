#include "cli/trail_location.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cli/size_parse.h"
#include "common/errors.h"

namespace agentfense::cli {
namespace {

struct stat stat_of(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw UserError("cannot resolve " + what + " '" + path + "': " + std::strerror(errno));
  return st;
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A trail with a second hard link may have that other name inside DIR.
void check_single_link(const std::string& trail) {
  struct stat st {};
  if (::lstat(trail.c_str(), &st) != 0) return;  // created later, with one link
  if (S_ISREG(st.st_mode) && st.st_nlink > 1)
    throw UserError("--audit " + trail + " has " + std::to_string(st.st_nlink) +
                    " hard links: another name for it could be inside DIR");
}

// The trail's directory, resolved: where a file there would really be.
std::string resolved_parent(const std::string& trail) {
  std::filesystem::path parent = std::filesystem::absolute(trail).parent_path();
  std::error_code error;
  const std::filesystem::path real = std::filesystem::canonical(parent, error);
  if (error)
    throw UserError("--audit " + trail + ": its directory " + parent.string() +
                    " cannot be resolved: " + error.message());
  return real;
}

}  // namespace

void add_audit_max_bytes_option(CLI::App& app, std::string& value) {
  app.add_option("--audit-max-bytes", value,
                 "Past this trail size, e.g. 64M, file events are counted, not written; "
                 "security events still are (default 256M; 0 = no limit)");
}

std::int64_t audit_max_bytes(const std::string& value) {
  return value == "0" ? 0 : parse_size(value, "--audit-max-bytes");
}

void check_trail_outside(const std::string& trail, const std::string& dir) {
  if (trail.empty()) return;
  const struct stat codebase = stat_of(dir, "DIR");
  // Compare directories by identity, not by path text: the resolved parent chain has no
  // symlink or "..", and (st_dev, st_ino) also catches DIR reached through a bind mount.
  std::filesystem::path at = resolved_parent(trail);
  for (;;) {
    if (same_file(stat_of(at, "directory"), codebase))
      throw UserError("--audit " + trail +
                      " is inside DIR: the sandboxed command could read or write the trail");
    if (at == at.parent_path()) break;
    at = at.parent_path();
  }
  check_single_link(trail);
}

}  // namespace agentfense::cli
