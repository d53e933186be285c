// `agentfense run`'s resource limits: safe by default, raised or removed by a flag.
// An agent's command should not be able to fork-bomb, exhaust the host's memory or run
// forever just because the caller forgot a flag. 0 means unlimited for each.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/exec.h"

namespace agentfense::cli {

inline constexpr std::int64_t kDefaultPidsLimit = 1024;
inline constexpr double kDefaultTimeoutSeconds = 1800;
inline constexpr std::int64_t kDefaultMemoryCeiling = 4LL << 30;

// 4 GiB, or half the machine's RAM when that is less.
std::int64_t default_memory_limit();

struct RunLimitFlags {
  std::optional<std::string> memory;  // --memory as given ("0" = unlimited)
  std::optional<std::int64_t> pids;   // --pids as given (0 = unlimited)
};

// The limits to apply. `can_limit` is false when no cgroup is writable (rootless without
// delegation): defaults are then dropped with a warning on stderr, while an explicit
// limit is an error (the run would not be limited as asked). Throws UserError for a
// negative or malformed value.
runtime::Limits run_limits(const RunLimitFlags& flags, bool can_limit);

}  // namespace agentfense::cli
