// Names AgentFense itself puts into a codebase for a moment: a commit builds each file
// under a temporary name beside its target and renames it into place, and an upload to
// an imported codebase on another filesystem stages its tree in a directory at the
// codebase's root. Such an entry holds content on its way to another path, whose rules
// it does not share (a `secrets/**` rule does not cover `.af-staging-X/secrets/key`), so
// no sandbox ever sees one: every path with a component starting with these prefixes is
// `none` whatever the rules say, and an agent cannot create one either.
#pragma once

#include <cstddef>
#include <string_view>

namespace agentfense::policy {

inline constexpr std::string_view kCommitTempPrefix = ".agentfense-commit-";
inline constexpr std::string_view kStagingPrefix = ".af-staging-";

// True when the single directory entry `name` starts with a reserved prefix.
inline bool is_reserved_name(std::string_view name) {
  return name.starts_with(kCommitTempPrefix) || name.starts_with(kStagingPrefix);
}

// True when a component of normalized absolute `path` starts with a reserved prefix.
inline bool names_reserved_entry(std::string_view path) {
  for (std::size_t at = path.find("/."); at != std::string_view::npos;
       at = path.find("/.", at + 1)) {
    if (is_reserved_name(path.substr(at + 1))) return true;
  }
  return false;
}

}  // namespace agentfense::policy
