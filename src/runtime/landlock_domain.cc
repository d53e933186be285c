#include "runtime/landlock_domain.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace agentfense::runtime {
namespace {

// <linux/landlock.h> of Debian 12 predates the fields and flags used here; the values
// are the kernel's stable ABI.
struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;  // ABI 4
  std::uint64_t scoped = 0;              // ABI 6
};
constexpr std::uint64_t kAccessFsMakeBlock = 1ULL << 11;
constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
constexpr std::uint64_t kScopeSignal = 1ULL << 1;
constexpr unsigned kCreateRulesetVersion = 1U << 0;
constexpr int kScopesAbi = 6;

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif

}  // namespace

int landlock_abi() {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

int enter_landlock_domain() {
  const int abi = landlock_abi();
  if (abi == 0) return ENOSYS;
  RulesetAttr attr;
  if (abi >= kScopesAbi) {
    attr.scoped = kScopeSignal | kScopeAbstractUnixSocket;
  } else {
    // A domain needs a handled access; denying this one costs nothing.
    attr.handled_access_fs = kAccessFsMakeBlock;
  }
  // Older kernels accept the larger struct: its fields they do not know are zero.
  const long ruleset = ::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0U);
  if (ruleset < 0) return errno;
  const int fd = static_cast<int>(ruleset);
  int error = 0;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::syscall(SYS_landlock_restrict_self, fd, 0U) != 0)
    error = errno;
  ::close(fd);
  return error;
}

}  // namespace agentfense::runtime
