// Paths inside a codebase, resolved so that no client-supplied path can reach outside
// it. A path is relative to the codebase root ("a/b" and "/a/b" are the same file).
// Lexically, "..", NUL and empty names are refused; on the host, every lookup goes through
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) relative to an fd of
// the codebase root, so a symlink anywhere on the way (planted by an archive, a sandbox
// commit, or anyone with host access) is refused instead of followed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::store {

// A validated codebase path.
struct CodebasePath {
  std::vector<std::string> segments;  // {"a", "b"}; empty for the root
  std::string display;                // "/a/b"; "/" for the root

  bool is_root() const { return segments.empty(); }
  std::string name() const { return segments.empty() ? std::string() : segments.back(); }
  CodebasePath parent() const;
  CodebasePath child(const std::string& name) const;
  // "a/b" for openat2 relative to the root fd; "." for the root.
  std::string relative() const { return is_root() ? "." : display.substr(1); }
};

// Throws ApiError(INVALID_ARGUMENT, kReasonInvalidPath) naming `path` for "..", NUL,
// bytes that are not UTF-8 (the API's names are proto3 strings: UTF-8 only), a
// component longer than NAME_MAX, or (unless allow_root) a path naming the root itself.
// "." components and repeated or trailing slashes are dropped.
CodebasePath parse_codebase_path(std::string_view path, bool allow_root);

// O_PATH fd of a host directory we trust (the codebase root).
UniqueFd open_root_dir(const std::string& dir);

// raw openat2 beneath `dir_fd` with the no-symlink resolve flags; returns fd or -errno.
int openat2_beneath(int dir_fd, const std::string& relative, int flags, mode_t mode = 0);

// O_PATH fd of directory `path` beneath `root_fd`. With `create`, missing directories are
// made (0755) one step at a time. Throws ApiError: INVALID_ARGUMENT through a symlink or a
// non-directory, NOT_FOUND (kReasonFileNotFound) when absent and !create.
UniqueFd open_dir_in_codebase(int root_fd, const CodebasePath& path, bool create);

// How many directories of `path` beneath `root_fd` do not exist yet: what
// open_dir_in_codebase(create) would make there. Anything else wrong with the path (a
// symlink, a file) counts 0 and is left to open_dir_in_codebase to refuse.
std::int64_t missing_dirs(int root_fd, const CodebasePath& path);

// Translates an errno from resolving `path` into the client-visible error and throws it;
// errors that are not the client's fault become SystemError.
[[noreturn]] void throw_path_error(int err, const CodebasePath& path);

// Throws ApiError(INVALID_ARGUMENT, kReasonInvalidPath) when a component of `path` starts
// with a prefix AgentFense keeps for its own temporary entries (policy/reserved_names.h):
// no sandbox would ever see such a file, and a cleanup of leftovers could delete it.
void refuse_reserved_names(const CodebasePath& path);

// Throws ApiError(INVALID_ARGUMENT, kReasonInvalidPath) "<path>: <why>".
[[noreturn]] void throw_invalid_path(std::string_view path, std::string_view why);

}  // namespace agentfense::store
