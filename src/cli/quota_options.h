// The write-layer flags shared by `run` and `mount` (the limits the fs process enforces,
// fs/write_quota.h):
//   --disk SIZE       bytes the sandbox may write, e.g. 512M or 10G (default 10G); 0 = no limit
//   --disk-inodes N   names it may create: files, directories, links (default 1000000);
//                     0 = no limit
// Beyond them a write inside the sandbox fails with "No space left on device", and `df`
// there shows these limits instead of the host disk.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "fs/quota_limits.h"

namespace agentfense::cli {

struct QuotaOptions {
  std::string disk = "10G";
  std::uint64_t inodes = fs::kDefaultQuota.inodes;

  void add_to(CLI::App& app);
  // Throws UserError naming the flag and the bad value.
  fs::QuotaLimits limits() const;
};

}  // namespace agentfense::cli
