#include "runtime/seccomp_filter.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <memory>
#include <string>

#include "common/errors.h"
#include "runtime/memfd.h"
#include "runtime/seccomp_rules.h"

namespace agentfense::runtime {
namespace {

using FilterContext = std::unique_ptr<void, decltype(&seccomp_release)>;

// libseccomp reports failure as a negative errno.
void check_seccomp(int rc, const std::string& step) {
  if (rc < 0) throw SystemError("seccomp " + step, -rc);
}

int resolve(const char* name) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    throw SystemError(std::string("seccomp: unknown syscall ") + name, ENOSYS);
  return nr;
}

void add_rules(scmp_filter_ctx ctx) {
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDeniedSyscalls)
    check_seccomp(seccomp_rule_add(ctx, eperm, resolve(name), 0), name);

  for (const scmp_datum_t flag : kNamespaceCloneFlags)
    check_seccomp(
        seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
        "clone flag");
  check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");

  // vsock reaches the hypervisor or host services over a channel no network namespace
  // covers; answered as if the kernel had no such family.
  check_seccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                 SCMP_A0(SCMP_CMP_EQ, AF_VSOCK)),
                "socket AF_VSOCK");

  // personality(): PER_LINUX only. Other personas turn off ASLR (ADDR_NO_RANDOMIZE) or
  // enable legacy quirks (READ_IMPLIES_EXEC). The query value 0xffffffff is refused
  // too: libseccomp rules cannot compare one argument twice ("neither 0 nor query").
  check_seccomp(
      seccomp_rule_add(ctx, eperm, SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_NE, PER_LINUX)),
      "personality");
}

}  // namespace

UniqueFd export_seccomp_filter() {
  FilterContext ctx(seccomp_init(SCMP_ACT_ALLOW), &seccomp_release);
  if (!ctx) throw SystemError("seccomp_init", ENOMEM);
  // The filter is built for the native ABI only; a syscall from another ABI (i386 via
  // int 0x80, x32) would bypass the numbers above, so it kills the process instead.
  check_seccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                "bad-arch action");
  add_rules(ctx.get());
  UniqueFd program = create_memfd("agentfense-seccomp");
  check_seccomp(seccomp_export_bpf(ctx.get(), program.get()), "export");
  seal_and_rewind(program.get(), "agentfense-seccomp");
  return program;
}

}  // namespace agentfense::runtime
