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
  if (flags.pids.value_or(0) > 0 || (flags.memory && *flags.memory != "0"))
    throw UserError("--memory and --pids need root (cgroups); run as root or pass 0");
  std::fprintf(stderr,
               "agentfense: not running as root: the default memory and process limits are "
               "not applied (cgroups need root)\n");
  return {};
}

}  // namespace agentfense::cli
