// Appends events to one sandbox's trail file, chaining each line to the one before
// (chain.h). Several processes may write one trail (the fs process its file events, the
// server or `agentfense run` the security events): each append takes an exclusive flock,
// and a writer that finds the file grown since its last append reads the last line to
// continue the chain from it. A last line without its newline (a writer killed mid-write)
// is cut off and replaced by an "audit"/"torn_tail_removed" notice: such a line was never
// acknowledged (docs/audit.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "audit/event.h"
#include "common/unique_fd.h"

namespace agentfense::audit {

class TrailFile {
 public:
  // Opens (creating it 0600, never through a symlink) the trail at `path`; events are
  // written with `sandbox` as their sandbox id. Throws SystemError.
  TrailFile(const std::string& path, std::string sandbox);
  TrailFile(const TrailFile&) = delete;
  TrailFile& operator=(const TrailFile&) = delete;

  // Writes the events in order with one write(2). Throws SystemError on failure (the
  // events are then not in the trail).
  void append(std::span<const Event> events);
  // fdatasync: what was appended survives a crash of the machine.
  void sync();
  const std::string& path() const { return path_; }
  // The file's size now (all writers' lines). Throws SystemError.
  std::uint64_t size() const;

 private:
  // Called under the lock: picks up the chain state from the file's current end.
  void catch_up(std::string* notices);

  std::string path_;
  std::string sandbox_;
  UniqueFd fd_;
  std::uint64_t known_size_ = UINT64_MAX;  // file size after our last append
  std::uint64_t last_seq_ = 0;
  std::string last_hash_;
};

}  // namespace agentfense::audit
