// Asynchronous, coalescing writer of one trail, for callers that must not wait for a disk:
// FUSE request handlers call record(), which copies the event into a bounded queue under
// a short mutex and returns. A background thread drains the queue every kFlushInterval,
// coalesces and appends (trail_file.h).
//
// Coalescing: within one command (begin_command .. end_command; for a process without
// commands, its whole life), the first event of a given op + path + path2 + outcome +
// errno is written at once; later ones are only counted, and the count of the repeats is
// written as one line ("count": N, "repeat": true) when the command ends.
//
// A full queue drops the event and counts it; the next write puts an "audit"/
// "events_dropped" line with that count in the trail. A handler never waits for the disk.
// So does a trail grown past `max_trail_bytes` (audit.max_sandbox_bytes): an agent making
// and deleting long-named files wrote 37 MB/s into it, outside every quota. Its allowed
// file events are then counted in such lines instead of written (the count says how
// many). Denied ones (a probe of a hidden path, a refused rename) are what a reviewer
// looks for, and an agent could fill the budget on purpose to hide them: they are still
// written while the trail stays within a reserve of a further tenth of the budget, and
// past that counted too, in the notice's "denied_dropped" as well as its count.
//
// Memory is bounded in bytes as well as in events, because an event carries whole paths
// (each up to 8 KiB, the fs's path cap) that the agent chooses: the queue holds at most
// kMaxQueuedBytes, and a command's coalescing state at most kMaxPendingBytes before its
// repeat counts are written early.
//
// Acknowledged: end_command() and sync() return once everything recorded before the
// call is written and fdatasync'd. The server answers a command only after that.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "audit/event.h"
#include "audit/trail_file.h"

namespace agentfense::audit {

class Recorder {
 public:
  static constexpr size_t kDefaultCapacity = 65536;
  static constexpr size_t kMaxQueuedBytes = 32 << 20;
  static constexpr size_t kMaxPendingBytes = 16 << 20;
  static constexpr std::chrono::milliseconds kFlushInterval{200};
  static constexpr std::chrono::seconds kFullNoticeInterval{10};

  // Opens the trail (throws SystemError) and starts the writer thread. `capacity`: events
  // the queue holds, at most `queued_bytes` of them.
  Recorder(const std::string& path, std::string sandbox, size_t capacity = kDefaultCapacity,
           size_t queued_bytes = kMaxQueuedBytes, std::uint64_t max_trail_bytes = 0);
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;
  ~Recorder();  // writes and syncs everything recorded, repeats included

  void record(Event event) noexcept;
  // Events recorded from now on carry `id` as their command (until a later one begins,
  // or it ends: then the latest of those still running).
  void begin_command(const std::string& id);
  // Writes the command's repeat counts and syncs; false if the disk refused.
  bool end_command(const std::string& id);
  // Writes what is queued (not the pending repeat counts) and syncs.
  bool sync();

  std::uint64_t dropped_total() const { return dropped_total_.load(); }

 private:
  struct Pending {
    Event event;
    std::uint64_t repeats = 0;
  };
  // Nothing while the trail is within max_trail_bytes_ (or has no limit); past it, the
  // bytes of the reserve for denied events still free (0 when it is used up). The
  // reserve is counted in what was written into it, not from the trail's size: one pass
  // of the agent's own events may overshoot the budget by more than the reserve.
  std::optional<std::uint64_t> reserve_left() const;
  // What a pass could not write: events, and how many of them were denied ones.
  struct Lost {
    std::uint64_t events = 0;
    std::uint64_t denied = 0;
    void add(const Event& event) {
      events += event.count;
      if (!event.allowed) denied += event.count;
    }
  };
  void run();
  // Past the budget: coalesces and keeps only the denied events that fit in `room`
  // bytes (a repeat of one written costs nothing until its count line); every other
  // event, and allowed repeat lines when `repeats`, go into `lost`. Returns the bytes
  // of the reserve it used.
  std::uint64_t coalesce_past_budget(std::deque<Event>& batch, bool repeats, std::uint64_t room,
                                     std::vector<Event>* out, Lost* lost);
  // Moves queued events into lines to write, coalescing; caller holds no lock.
  void coalesce(std::deque<Event>& batch, std::vector<Event>* out);
  void flush_repeats(std::vector<Event>* out);
  bool write(std::vector<Event>& out, bool sync);
  // Waits until the writer thread has run a pass that started after this call.
  bool request_pass(bool repeats);

  TrailFile trail_;
  const size_t capacity_;
  const size_t max_queued_bytes_;
  const std::uint64_t max_trail_bytes_;  // 0 = no limit
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<Event> queue_;
  size_t queued_bytes_ = 0;
  // Commands begun and not yet ended, in the order they began; events carry the last.
  // When it ends, one still running gets the events again (an API file call during an
  // agent's long command once left the rest of that command's events untagged).
  std::vector<std::string> commands_;
  std::uint64_t dropped_ = 0;
  std::uint64_t denied_dropped_ = 0;  // of dropped_
  std::atomic<std::uint64_t> dropped_total_{0};
  std::uint64_t pass_requested_ = 0;
  std::uint64_t pass_done_ = 0;
  bool pass_ok_ = true;
  bool repeats_requested_ = false;
  bool stopping_ = false;
  // Writer thread only.
  std::unordered_map<std::string, size_t> seen_;  // key -> index in pending_
  std::vector<Pending> pending_;
  size_t pending_bytes_ = 0;        // of pending_ and seen_'s keys
  std::uint64_t reserve_used_ = 0;  // by denied events written past max_trail_bytes_
  std::chrono::steady_clock::time_point last_full_notice_{};
  std::thread thread_;
};

}  // namespace agentfense::audit
