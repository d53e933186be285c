#include "common/open_file_limit.h"

#include <sys/resource.h>

namespace agentfense {

void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    // Failing leaves the smaller limit: deep walks then fail with EMFILE, named.
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace agentfense
