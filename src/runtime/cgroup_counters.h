// Counters the kernel keeps in a cgroup's flat-keyed files ("key value" per line):
// memory.events / memory.oom_control ("oom_kill N") and pids.events ("max N"). They
// say afterwards what a limit did to a command: killed a process for memory, refused
// a fork at the pids limit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentfense::runtime {

// The value of `key` in `file`; nullopt when the file or the key cannot be read (an
// older kernel, a controller that is not enabled).
std::optional<std::uint64_t> read_cgroup_counter(const std::string& file, std::string_view key);

// What the kernel's limits did to the processes of one cgroup so far.
struct LimitHits {
  std::uint64_t oom_kills = 0;     // processes killed for exceeding the memory limit
  std::uint64_t pids_refused = 0;  // forks/clones refused at the pids limit

  // What happened between `before` and this reading (counters only grow).
  LimitHits since(const LimitHits& before) const {
    return {.oom_kills = oom_kills - std::min(oom_kills, before.oom_kills),
            .pids_refused = pids_refused - std::min(pids_refused, before.pids_refused)};
  }
};

}  // namespace agentfense::runtime
