#include "cli/run_limits.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/size_parse.h"
#include "common/errors.h"

namespace agentfense::cli {

std::int64_t default_memory_limit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return kDefaultMemoryCeiling;
  return std::min(kDefaultMemoryCeiling, static_cast<std::int64_t>(pages) * page_size / 2);
}

runtime::Limits run_limits(const RunLimitFlags& flags, bool can_limit) {
  runtime::Limits limits;
  if (flags.pids && *flags.pids < 0) throw UserError("--pids must not be negative");
  limits.pids_limit = flags.pids.value_or(kDefaultPidsLimit);
  if (!flags.memory)
    limits.memory_bytes = default_memory_limit();
  else if (*flags.memory != "0")
    limits.memory_bytes = parse_size(*flags.memory, "--memory");
  if (can_limit) return limits;
  if (limits.memory_bytes == 0 && limits.pids_limit == 0) return {};  // nothing asked for
  // An explicit limit that cannot be enforced fails closed; the defaults are dropped
  // with one line saying so (docs/rootless.md).
  if (flags.pids.value_or(0) > 0 || (flags.memory && *flags.memory != "0"))
    throw UserError(
        "--memory and --pids need a writable cgroup (root, or a delegated cgroup v2 such as "
        "systemd's user@UID.service) and none is writable here; pass --memory 0 --pids 0 to "
        "run without them");
  std::fprintf(stderr,
               "agentfense: warning: no writable cgroup; --memory and --pids are not enforced "
               "(rootless)\n");
  return {};
}

}  // namespace agentfense::cli
