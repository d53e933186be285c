#include "cli/quota_options.h"

#include "cli/size_parse.h"

namespace agentfense::cli {

void QuotaOptions::add_to(CLI::App& app) {
  app.add_option("--disk", disk,
                 "Bytes the sandbox may write (its write layer), e.g. 512M; beyond it writes "
                 "fail with ENOSPC (default 10G; 0 = no limit)");
  app.add_option("--disk-inodes", inodes,
                 "Files, directories and links the sandbox may create (default 1000000; "
                 "0 = no limit)");
}

fs::QuotaLimits QuotaOptions::limits() const {
  const std::uint64_t bytes =
      disk == "0" ? 0 : static_cast<std::uint64_t>(parse_size(disk, "--disk"));
  return {bytes, inodes};
}

}  // namespace agentfense::cli
