// What every sandbox's syscall filter refuses, on both runtimes: the bwrap runtime compiles
// it with libseccomp (seccomp_filter.cc), the docker runtime hands it to dockerd as a
// seccomp profile (docker/seccomp_profile.cc). One list, so the two never drift apart.
#pragma once

#include <sched.h>

#include <array>

namespace agentfense::runtime {

// Syscalls refused outright with EPERM.
inline constexpr std::array kDeniedSyscalls = {
    // filesystem namespace manipulation
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr",
    // namespaces (see also clone below)
    "setns", "unshare",
    // inspecting or driving other processes (the session shell is also non-dumpable,
    // which the kernel checks for all of these; this is the second lock)
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise",
    // kernel attack surface
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "keyctl", "add_key", "request_key",
    "lookup_dcookie", "iopl", "ioperm",
    // handles bypass path-based access checks (the classic container escape)
    "open_by_handle_at", "name_to_handle_at",
    // host administration
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "quotactl", "acct", "syslog", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "vhangup"};

// clone() flags that would create a namespace; any one of them makes clone fail (EPERM),
// and clone3 reports ENOSYS (its flags live in memory a filter cannot inspect, so libc
// falls back to the filtered clone()).
inline constexpr std::array<unsigned long, 7> kNamespaceCloneFlags = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

// socket(AF_VSOCK) answers EAFNOSUPPORT: vsock reaches the hypervisor or host services over
// a channel no network namespace covers. personality() allows PER_LINUX (0) only: other
// personas turn off ASLR or enable legacy quirks.

}  // namespace agentfense::runtime
