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
  if (event.command.empty()) event.command = command_;
  const size_t bytes = bytes_of(event);
  if (queue_.size() >= capacity_ || queued_bytes_ + bytes > max_queued_bytes_) {
    ++dropped_;
    ++dropped_total_;
    return;
  }
  queued_bytes_ += bytes;
  queue_.push_back(std::move(event));
}

void Recorder::begin_command(const std::string& id) {
  std::lock_guard lock(mu_);
  command_ = id;
}

bool Recorder::end_command(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    if (command_ == id) command_.clear();
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
    std::uint64_t dropped = 0, target = 0;
    bool repeats = false, stop = false, asked = false;
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, kFlushInterval,
                     [&] { return stopping_ || pass_requested_ > pass_done_; });
      batch.swap(queue_);
      queued_bytes_ = 0;
      dropped = std::exchange(dropped_, 0);
      target = pass_requested_;
      asked = target > pass_done_;
      repeats = std::exchange(repeats_requested_, false);
      stop = stopping_;
    }
    // A full trail takes no more file events: they are counted with the dropped ones,
    // and so are the repeat counts still pending.
    bool full = false;
    if (max_trail_bytes_ > 0) {
      try {
        full = trail_.size() >= max_trail_bytes_;
      } catch (const std::exception&) {
        full = false;  // unknown: write, and let append report the trouble
      }
    }
    std::vector<Event> lines;
    if (full) {
      std::vector<Event> repeat_lines;
      if (repeats || stop) flush_repeats(&repeat_lines);
      const std::uint64_t lost = batch.size() + repeat_lines.size();
      dropped += lost;
      dropped_total_ += lost;
      // Its notice is written when someone waits for the trail, or every
      // kFullNoticeInterval, not on every pass: the notices themselves add up otherwise.
      const auto now = std::chrono::steady_clock::now();
      if (!asked && !stop && now - last_full_notice_ < kFullNoticeInterval) {
        std::lock_guard lock(mu_);
        dropped_ += dropped;
        continue;
      }
      last_full_notice_ = now;
    } else {
      coalesce(batch, &lines);
      if (repeats || stop) flush_repeats(&lines);
    }
    std::vector<Event> out;
    if (dropped > 0) {
      Event notice;
      notice.kind = kKindAudit;
      notice.op = "events_dropped";
      notice.count = dropped;
      notice.details = {{"why", full ? "the trail reached its size limit (audit.max_sandbox_bytes, "
                                       "--audit-max-bytes)"
                                     : "the recording queue was full or the trail could not "
                                       "be written"}};
      out.push_back(std::move(notice));
    }
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
