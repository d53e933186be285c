// Kernel information in /proc that no agent needs, masked on both runtimes (the bwrap
// runtime in bwrap_args.cc, the docker runtime as the container's MaskedPaths).
#pragma once

#include <array>

namespace agentfense::runtime {

// The boot command line, the kernel build config, symbol addresses and layout (kallsyms,
// iomem, vmallocinfo, slab and page statistics), keyrings, timers and the sysrq trigger.
inline constexpr std::array kMaskedProcFiles = {
    "/proc/cmdline",       "/proc/config.gz",     "/proc/kallsyms",   "/proc/kcore",
    "/proc/keys",          "/proc/key-users",     "/proc/timer_list", "/proc/sched_debug",
    "/proc/sysrq-trigger", "/proc/latency_stats", "/proc/iomem",      "/proc/ioports",
    "/proc/vmallocinfo",   "/proc/slabinfo",      "/proc/kpagecount", "/proc/kpageflags",
    "/proc/kpagecgroup",   "/proc/pagetypeinfo",  "/proc/modules",    "/proc/timer_stats"};

// Directories of hardware and driver details: covered by an empty read-only tmpfs.
inline constexpr std::array kMaskedProcDirs = {"/proc/acpi", "/proc/asound", "/proc/scsi",
                                               "/proc/bus",  "/proc/irq",    "/proc/driver"};

}  // namespace agentfense::runtime
