// Streaming extraction of a tar (optionally gzip-compressed, autodetected) into an empty
// staging directory. Nothing is buffered beyond one network chunk.
//
// Kept: regular files with their permission bits (exec included; setuid/setgid/sticky
// dropped), directories (empty ones too), symlinks stored verbatim (we never follow them),
// hard links (re-linked to the earlier entry in the same archive). Rejected with
// ApiError(INVALID_ARGUMENT, kReasonInvalidPath) naming the entry: absolute names, "..",
// paths through a symlink extracted earlier, devices/fifos/sockets, hard links to anything
// not in the archive. A later entry with the same name replaces the earlier one (as tar).
// Beyond the budget (upload_limits.h) it stops with ApiError(RESOURCE_EXHAUSTED): bytes
// received, entries, expanded bytes (checked against each header's declared size before
// the entry is written, then as data arrives) and the expanded / received ratio.
#pragma once

#include <cstdint>
#include <string>

#include "common/streams.h"
#include "store/upload_limits.h"

namespace agentfense::store {

struct ExtractResult {
  int32_t entries = 0;  // regular files, symlinks, hard links and directories written
  int64_t bytes = 0;    // regular file data
};

struct ArchiveBudget {
  UploadLimits limits;
  Room room;  // what the codebase may still grow by
};

ExtractResult extract_archive(int staging_fd, const Next<std::string>& data,
                              const ArchiveBudget& budget = {});

}  // namespace agentfense::store
