// Records every open of a file in the mount, exactly once per open, without a FUSE round
// trip: OPEN is answered ENOSYS so the kernel keeps its page cache across opens
// (DESIGN.md "Performance facts"), so the daemon never sees opens. A fanotify mark on
// the mount's superblock reports each close (CLOSE_NOWRITE -> open_read, CLOSE_WRITE ->
// open_write) and each exec (OPEN_EXEC -> exec) after the fact. The kernel merges
// identical unread events; the recorder coalesces per command (audit/recorder.h).
//
// Opens the kernel refuses (mode bits) never produce these events; they are recorded
// from the GETATTR the kernel sends before refusing (ops_lookup.cc). fanotify needs
// CAP_SYS_ADMIN: without it the trail gets one "audit"/"open_events_unavailable" event
// and the rest of the auditing works.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "fs/filesystem.h"

namespace agentfense::fs {

class OpenWatch : public OpenEventSource {
 public:
  // Starts watching the filesystem mounted at `mountpoint` from a thread of its own:
  // placing the mark makes the kernel ask the daemon for the root's attributes, so it
  // can only complete once the request loop runs. `started` is called (on that thread)
  // once opens are being recorded, or recording them failed (the failure is recorded in
  // the trail and the watch does nothing); the agent must not start before that.
  OpenWatch(Filesystem& fs, std::string mountpoint, std::function<void()> started);
  OpenWatch(const OpenWatch&) = delete;
  OpenWatch& operator=(const OpenWatch&) = delete;
  ~OpenWatch();

  // Records every event the kernel has queued so far; waits at most `timeout`. Called at
  // the end of a command (its processes are gone, their closes are queued) and before
  // the unmount.
  void drain(std::chrono::milliseconds timeout);
  // drain() for at most 100 ms, only when the kernel has events queued (one poll).
  void drain_if_pending() override;

 private:
  void run(const std::string& mountpoint, const std::function<void()>& started);
  bool start(const std::string& mountpoint);  // false: unavailable (recorded)
  bool read_events();                         // false when the fanotify fd failed
  void note_dropped(int error);               // events lost for want of a descriptor
  void handle(std::uint64_t mask, int fd);

  Filesystem& fs_;
  UniqueFd fan_;
  std::atomic<int> fan_fd_{-1};       // fan_'s number once watching, for drain_if_pending()
  std::atomic<bool> reading_{false};  // events may be read and not yet recorded
  UniqueFd wake_;                     // eventfd: drain requests and stop
  std::mutex mu_;
  std::condition_variable drained_;
  std::uint64_t drain_requested_ = 0;
  std::uint64_t drain_done_ = 0;
  bool stopping_ = false;
  bool out_of_descriptors_ = false;  // noted once until a read succeeds (reader thread only)
  std::thread thread_;
};

}  // namespace agentfense::fs
