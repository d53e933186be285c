#include "layer/link_target.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

std::vector<std::string_view> split_segments(std::string_view text) {
  std::vector<std::string_view> segments;
  for (std::size_t start = 0;;) {
    const std::size_t slash = text.find('/', start);
    segments.push_back(text.substr(start, slash - start));
    if (slash == std::string_view::npos) return segments;
    start = slash + 1;
  }
}

// Where the link leads, as a normalized codebase path, or the refusal. Climbing ("..")
// only at its start and no higher than the link's own directory's depth.
//
// Why no ".." after a name: "s/../../x" is inside by its text only if "s" is a
// directory. A name that is missing or a directory now may be a symlink later (in this
// commit, sorted after the link, or in the next one): out/a -> d/s/../../../etc/passwd
// was committed, then d/s -> ../.., and the host's out/a led to /etc/passwd. With
// climbing only at the start every committed link lands inside from its own (real)
// directory and then only descends, through links that were held to the same rule.
struct Lexical {
  std::string path;    // the target as a codebase path ("/" for the root)
  std::string reason;  // set when refused
};

Lexical lexical_target(const std::string& link_parent, const std::string& target) {
  if (target.empty() || target.front() == '/')
    return {{}, "symlink target is absolute (" + target + ")"};
  std::vector<std::string> segments = path_segments(link_parent);
  bool descended = false;
  for (const std::string_view segment : split_segments(target)) {
    if (segment.empty() || segment == ".") continue;
    if (segment != "..") {
      descended = true;
      segments.emplace_back(segment);
    } else if (descended) {
      return {{},
              "symlink target climbs after a name (" + target + "): only a leading ../ may climb"};
    } else if (segments.empty()) {
      return {{}, "symlink target leaves the codebase (" + target + ")"};
    } else {
      segments.pop_back();
    }
  }
  std::string path;
  for (const std::string& segment : segments) path += "/" + segment;
  return {path.empty() ? "/" : path, {}};
}

// The rules alone decide, for the target and every directory on the way, so the answer
// says nothing about what exists there: a link to a hidden or view-only path
// (report.txt -> ../.env) handed its content to whoever followed it on the host.
bool rules_let_sandbox_read(const Scope& scope, const std::string& path) {
  std::string prefix;
  for (const std::string& segment : path_segments(path)) {
    if (!prefix.empty() && !scope.readable(prefix, true)) return false;
    prefix += "/" + segment;
  }
  return scope.readable(path, false) && scope.readable(path, true);
}

long open_beneath(int base_fd, const std::string& relative, unsigned long long resolve) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = resolve;
  return ::syscall(SYS_openat2, base_fd, relative.c_str(), &how, sizeof how);
}

}  // namespace

std::optional<std::string> link_target_refusal(int base_fd, const Scope& scope,
                                               const std::string& link_parent,
                                               const std::string& target) {
  const Lexical lexical = lexical_target(link_parent, target);
  if (!lexical.reason.empty()) return lexical.reason;
  if (!rules_let_sandbox_read(scope, lexical.path))
    return "symlink target is not readable in the sandbox (" + target + ")";
  // How the kernel follows it from the link's own directory, beneath the base.
  std::string relative;
  for (const std::string& segment : path_segments(link_parent)) relative += segment + "/";
  relative += target;
  const UniqueFd followed(static_cast<int>(open_beneath(base_fd, relative, RESOLVE_BENEATH)));
  if (!followed) {
    if (errno == EXDEV || errno == ELOOP)
      return "symlink target resolves outside the codebase (" + target + ")";
    return std::nullopt;  // ENOENT and the like: a dangling link that stays inside is fine
  }
  // Every name on the way was readable by the rules, so the sandbox could see whether
  // one of them is a symlink: a chain is refused rather than followed to its end, which
  // may be somewhere the rules hide.
  if (!UniqueFd(static_cast<int>(
          open_beneath(base_fd, relative, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS))) &&
      errno == ELOOP)
    return "symlink target is itself a symlink or goes through one (" + target + ")";
  struct stat st {};
  if (::fstat(followed.get(), &st) == 0 && S_ISDIR(st.st_mode) &&
      scope.below_may_be_unreadable(lexical.path))
    return "symlink target is a directory holding paths the sandbox cannot read (" + target + ")";
  return std::nullopt;
}

}  // namespace agentfense::layer
