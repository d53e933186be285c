// The container's seccomp profile, in Docker's JSON format (HostConfig.SecurityOpt
// "seccomp=<json>"): the same rules as the bwrap runtime's filter (seccomp_rules.h), so a
// syscall an agent may make is the same on both runtimes. Default allow plus those
// refusals is stricter than Docker's default profile where it matters for a sandbox
// (ptrace, process_vm_*, pidfd_getfd, io_uring, userfaultfd, AF_VSOCK, personality and
// every namespace call are refused whatever the kernel version), while capabilities are
// all dropped and no_new_privs is set, which covers the privileged calls Docker's
// allowlist keys on capabilities. Only the native x86_64 ABI is listed: runc refuses
// syscalls of any other architecture.
#pragma once

#include <string>

namespace agentfense::runtime::docker {

std::string seccomp_profile_json();

}  // namespace agentfense::runtime::docker
