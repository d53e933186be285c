// The sandbox's syscall filter (libseccomp), compiled to classic BPF in a memfd that is
// handed to `bwrap --seccomp FD`. Default allow; EPERM for the kernel attack surface an
// agent never needs (mounts, namespaces, tracing, keyrings, bpf, modules, clocks, ...).
// Namespaces get a second lock on top of bwrap --disable-userns: unshare/setns are
// refused and clone() with any CLONE_NEW* flag fails; clone3 reports ENOSYS (its flags
// live in memory a filter cannot inspect) so libc falls back to the filtered clone().
// socket(AF_VSOCK) fails with EAFNOSUPPORT. Only the native x86_64 ABI is allowed; x32
// and i386 syscalls kill the process.
#pragma once

#include "common/unique_fd.h"

namespace agentfense::runtime {

// Throws SystemError if libseccomp rejects a rule (the filter is never weakened to
// build on an older libseccomp: fail closed).
UniqueFd export_seccomp_filter();

}  // namespace agentfense::runtime
