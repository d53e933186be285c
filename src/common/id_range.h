// An inclusive range of host uids/gids, as configured (`sandbox.uid_range`) and leased
// to running sandboxes (supervisor/host_ids.h).
#pragma once

#include <sys/types.h>

#include <string>

namespace agentfense {

struct IdRange {
  uid_t first = 0;
  uid_t last = 0;
  bool operator==(const IdRange&) const = default;
};

// 1879048192-1879113727 (0x70000000 + 65536 ids): a range no Linux distribution
// allocates (systemd's UID table leaves 1879048192-2147352575 unused; it sits above
// the container ranges of systemd-nspawn and far above the subordinate ids useradd
// hands out from 100000), so a sandbox's id owns nothing on the host.
inline constexpr IdRange kDefaultIdRange{1879048192u, 1879113727u};

// "FIRST-LAST" in decimal, 1 <= FIRST <= LAST <= 4294967294 (0 is root; (uid_t)-1 means
// "no change" to set*id calls). Throws UserError naming the text.
IdRange parse_id_range(const std::string& text);
std::string to_string(const IdRange& range);

}  // namespace agentfense
