// The walk behind ListFiles (a codebase) and ListSandboxFiles (a sandbox's view): a
// directory's entries, depth-first in name order, until a ListingBudget is spent.
//
// A name that is not UTF-8 cannot travel in a proto3 string (gRPC clients fail to parse
// the whole reply; JSON would list a different name) and no request could name it back:
// it and what lies below it are left out and counted, for the caller to log once per
// listing (log_unlisted). One log line per name let a directory of a million such
// names write a million lines to the server's log at every listing.
//
// Names reserved for AgentFense's temporary entries (policy/reserved_names.h) are
// skipped silently, with what lies below them: they are nobody's content.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/log.h"
#include "layer/listed_paths.h"

namespace agentfense::layer {

struct UnlistedNames {
  std::size_t count = 0;
  std::string first;  // the path of the first one met, raw
};

class ListingWalk {
 public:
  using Visit = std::function<void(const std::string& path, const struct stat& st)>;
  ListingWalk(bool recursive, ListingBudget& budget, Visit visit)
      : recursive_(recursive), budget_(budget), visit_(std::move(visit)) {}

  // Lists `dir_fd`, the directory at `dir_path` ("/" or "/a/b"). Entries removed while
  // it walks are skipped. Throws SystemError when a directory cannot be listed or
  // opened; where() then names it.
  void run(int dir_fd, const std::string& dir_path);

  const std::string& where() const { return where_; }
  const UnlistedNames& unlisted() const { return unlisted_; }

  // One warning `event` naming whose listing it was (`owner`, e.g. {"sandbox_id": ..}),
  // how many names were left out and the first one, escaped; nothing when none were.
  void log_unlisted(std::string_view event, log::Fields owner) const;

 private:
  const bool recursive_;
  ListingBudget& budget_;
  const Visit visit_;
  std::string where_;
  UnlistedNames unlisted_;
};

}  // namespace agentfense::layer
