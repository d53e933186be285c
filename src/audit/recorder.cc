#include "audit/recorder.h"

#include "common/log.h"

namespace agentfense::audit {
namespace {

// Beyond this many distinct events in one command (or kMaxPendingBytes of them) the
// repeat counts are written early, so a command touching millions of paths keeps bounded
// memory.
constexpr size_t kMaxDistinctPerCommand = 100000;

// About what an event holds in memory: its own size and its strings' (short ones live
// inside the string object; counting every string's length overstates a little).
size_t bytes_of(const Event& event) {
  return sizeof(Event) + event.op.size() + event.path.size() + event.path2.size() +
         event.rule.size() + event.reason.size() + event.command.size();
}

std::string key_of(const Event& event) {
  std::string key;
  key.reserve(event.op.size() + event.path.size() + event.path2.size() + 16);
  key.append(event.kind).append(1, '\0').append(event.op).append(1, '\0');
  key.append(event.path).append(1, '\0').append(event.path2).append(1, '\0');
  key.append(event.type).append(1, '\0');
  key.append(event.allowed ? "a" : "d").append(std::to_string(event.error)).append(1, '\0');
  // The command too: a repeat keeps the first event's cmd, so without it a concurrent
  // command's refused opens were counted on another command's line.
  key.append(event.command);
  return key;
}

Event dropped_notice(std::uint64_t dropped, std::uint64_t denied_dropped, bool full) {
  Event notice;
  notice.kind = kKindAudit;
  notice.op = "events_dropped";
  notice.count = dropped;
  notice.details = {{"why", full ? "the trail reached its size limit (audit.max_sandbox_bytes, "
                                   "--audit-max-bytes)"
                                 : "the recording queue was full or the trail could not "
                                   "be written"}};
  // Refused attempts are what a reviewer alerts on: say how many of these were.
  if (denied_dropped > 0) notice.details["denied_dropped"] = denied_dropped;
  return notice;
}

}  // namespace

Recorder::Recorder(const std::string& path, std::string sandbox, size_t capacity,
                   size_t queued_bytes, std::uint64_t max_trail_bytes)
    : trail_(path, std::move(sandbox)),
      capacity_(capacity),
      max_queued_bytes_(queued_bytes),
      max_trail_bytes_(max_trail_bytes),
      thread_([this] { run(); }) {}

Recorder::~Recorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Recorder::record(Event event) noexcept {
  std::lock_guard lock(mu_);
  if (event.command.empty() && !commands_.empty()) event.command = commands_.back();
  const size_t bytes = bytes_of(event);
  if (queue_.size() >= capacity_ || queued_bytes_ + bytes > max_queued_bytes_) {
    ++dropped_;
    if (!event.allowed) ++denied_dropped_;
    ++dropped_total_;
    return;
  }
  queued_bytes_ += bytes;
  queue_.push_back(std::move(event));
}

void Recorder::begin_command(const std::string& id) {
  std::lock_guard lock(mu_);
  commands_.push_back(id);
}

bool Recorder::end_command(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    std::erase(commands_, id);
  }
  return request_pass(true);
}

bool Recorder::sync() {
  return request_pass(false);
}

bool Recorder::request_pass(bool repeats) {
  std::unique_lock lock(mu_);
  const std::uint64_t mine = ++pass_requested_;
  repeats_requested_ = repeats_requested_ || repeats;
  wake_.notify_one();
  done_.wait(lock, [&] { return pass_done_ >= mine; });
  return pass_ok_;
}

void Recorder::coalesce(std::deque<Event>& batch, std::vector<Event>* out) {
  for (Event& event : batch) {
    const std::string key = key_of(event);
    if (auto it = seen_.find(key); it != seen_.end()) {
      pending_[it->second].repeats += event.count;
      continue;
    }
    if (pending_.size() >= kMaxDistinctPerCommand || pending_bytes_ >= kMaxPendingBytes) {
      flush_repeats(out);
    }
    pending_bytes_ += key.size() + bytes_of(event);
    seen_.emplace(key, pending_.size());
    pending_.push_back({event, 0});
    out->push_back(std::move(event));
  }
}

void Recorder::flush_repeats(std::vector<Event>* out) {
  for (Pending& pending : pending_) {
    if (pending.repeats == 0) continue;
    Event repeat = std::move(pending.event);
    repeat.time = std::chrono::system_clock::now();
    repeat.count = pending.repeats;
    nlohmann::ordered_json details =
        repeat.details.is_object() ? repeat.details : nlohmann::ordered_json::object();
    details["repeat"] = true;
    repeat.details = std::move(details);
    out->push_back(std::move(repeat));
  }
  pending_.clear();
  seen_.clear();
  pending_bytes_ = 0;
}

std::optional<std::uint64_t> Recorder::reserve_left() const {
  if (max_trail_bytes_ == 0) return std::nullopt;
  std::uint64_t size = 0;
  try {
    size = trail_.size();
  } catch (const std::exception&) {
    return std::nullopt;  // unknown: write, and let append report the trouble
  }
  if (size < max_trail_bytes_) return std::nullopt;
  const std::uint64_t reserve = max_trail_bytes_ / 10;
  return reserve > reserve_used_ ? reserve - reserve_used_ : 0;
}

std::uint64_t Recorder::coalesce_past_budget(std::deque<Event>& batch, bool repeats,
                                             std::uint64_t room, std::vector<Event>* out,
                                             Lost* lost) {
  std::uint64_t used = 0;
  std::deque<Event> denied;
  for (Event& event : batch) {
    if (event.allowed) {
      lost->add(event);
      continue;
    }
    if (!seen_.contains(key_of(event))) {
      // About its line: the event, and the JSON around it (ts, hashes, field names).
      const std::uint64_t cost = bytes_of(event) + 256;
      if (used + cost > room) {
        lost->add(event);
        continue;
      }
      used += cost;
    }
    denied.push_back(std::move(event));
  }
  coalesce(denied, out);
  if (!repeats) return used;
  std::vector<Event> repeat_lines;
  flush_repeats(&repeat_lines);
  for (Event& line : repeat_lines) {
    // A denied repeat line stands for events whose first line was written: it is kept,
    // even past the reserve (at most one per such line).
    if (!line.allowed) {
      used += bytes_of(line) + 256;
      out->push_back(std::move(line));
    } else {
      lost->add(line);
    }
  }
  return used;
}

bool Recorder::write(std::vector<Event>& out, bool sync) {
  try {
    trail_.append(out);
    if (sync) trail_.sync();
    return true;
  } catch (const std::exception& error) {
    log::warn("audit.write_failed",
              {{"trail", trail_.path()}, {"error", error.what()}, {"events", out.size()}});
    std::lock_guard lock(mu_);
    dropped_ += out.size();
    dropped_total_ += out.size();
    return false;
  }
}

void Recorder::run() {
  for (;;) {
    std::deque<Event> batch;
    std::uint64_t dropped = 0, denied_dropped = 0, target = 0;
    bool repeats = false, stop = false, asked = false;
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, kFlushInterval,
                     [&] { return stopping_ || pass_requested_ > pass_done_; });
      batch.swap(queue_);
      queued_bytes_ = 0;
      dropped = std::exchange(dropped_, 0);
      denied_dropped = std::exchange(denied_dropped_, 0);
      target = pass_requested_;
      asked = target > pass_done_;
      repeats = std::exchange(repeats_requested_, false);
      stop = stopping_;
    }
    // A trail past its budget takes only denied file events, and only within the
    // reserve; the rest is counted with the dropped ones, pending repeat counts too.
    const std::optional<std::uint64_t> room = reserve_left();
    const bool full = room.has_value();
    std::vector<Event> lines;
    if (full) {
      Lost lost;
      reserve_used_ += coalesce_past_budget(batch, repeats || stop, *room, &lines, &lost);
      dropped += lost.events;
      denied_dropped += lost.denied;
      dropped_total_ += lost.events;
      // Its notice is written when someone waits for the trail, or every
      // kFullNoticeInterval, not on every pass: the notices themselves add up otherwise.
      const auto now = std::chrono::steady_clock::now();
      if (!asked && !stop && now - last_full_notice_ < kFullNoticeInterval) {
        {
          std::lock_guard lock(mu_);
          dropped_ += dropped;
          denied_dropped_ += denied_dropped;
        }
        if (lines.empty()) continue;
        dropped = denied_dropped = 0;  // counted in a later notice
      } else {
        last_full_notice_ = now;
      }
    } else {
      coalesce(batch, &lines);
      if (repeats || stop) flush_repeats(&lines);
    }
    std::vector<Event> out;
    if (dropped > 0) out.push_back(dropped_notice(dropped, denied_dropped, full));
    for (Event& line : lines) out.push_back(std::move(line));
    const bool ok = write(out, asked || stop);
    std::lock_guard lock(mu_);
    if (asked) {
      pass_done_ = target;
      pass_ok_ = ok;
      done_.notify_all();
    }
    if (stop) return;
  }
}

}  // namespace agentfense::audit
