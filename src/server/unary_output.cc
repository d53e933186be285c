#include "server/unary_output.h"

#include <algorithm>
#include <utility>

#include "server/api.h"

namespace agentfense::server {

void UnaryOutput::check_room(std::string holder, std::string sandbox) {
  budget_.check_room(what_, holder);
  grant_ =
      std::make_shared<MemoryBudget::Grant>(budget_, what_, std::move(holder), std::move(sandbox));
}

std::size_t UnaryOutput::text_room(int streams, std::size_t most) {
  if (!grant_ || streams <= 0) return most;
  const std::int64_t wanted = static_cast<std::int64_t>(most) * streams;
  const std::int64_t taken = grant_->hold_up_to(wanted);
  return std::clamp(static_cast<std::size_t>(taken / streams), std::min(kMinText, most), most);
}

std::function<void(runtime::Stream, std::string_view)> UnaryOutput::capture(
    std::function<bool()> stop_waiting) {
  grant_->begin_capturing();
  return [this, stop_waiting = std::move(stop_waiting)](runtime::Stream which,
                                                        std::string_view chunk) {
    if (!cutting_ && grant_->wait_for_room(stop_waiting) == MemoryBudget::Room::kCut)
      cutting_ = true;
    if (cutting_) {
      (which == runtime::Stream::kStdout ? stdout_cut_ : stderr_cut_) = true;
      return;
    }
    kept_.keep(which, chunk);
    grant_->hold_anyway(captured_ += static_cast<std::int64_t>(chunk.size()));
  };
}

void UnaryOutput::fill(runtime::ExecResult& result) {
  kept_.fill(result);
  result.stdout_truncated = result.stdout_truncated || stdout_cut_;
  result.stderr_truncated = result.stderr_truncated || stderr_cut_;
}

void UnaryOutput::captured() {
  if (grant_) grant_->end_capturing();
}

v1::ExecResult UnaryOutput::charged(v1::ExecResult result, CallContext& call) {
  // Every exec that returns a result passed check_room(); were one not to, its result is
  // still charged (to no holder) rather than dereferencing nothing.
  if (!grant_) grant_ = std::make_shared<MemoryBudget::Grant>(budget_, what_);
  captured();
  grant_->hold_anyway(static_cast<std::int64_t>(result.stdout().size() + result.stderr().size() +
                                                result.stdout_bytes().size() +
                                                result.stderr_bytes().size()));
  grant_->sending();
  call.keep_until_sent(grant_);
  return result;
}

v1::ExecResult UnaryOutput::charged(const std::function<v1::ExecResult()>& exec,
                                    CallContext& call) {
  try {
    return charged(exec(), call);
  } catch (CommandTimeoutError& timed_out) {
    // Once rendered, the body is all that is left of the output: its size, however large
    // the output was.
    if (grant_)
      timed_out.charge_body_to({.settle =
                                    [grant = grant_](std::size_t bytes) {
                                      grant->lower_to(static_cast<std::int64_t>(bytes));
                                      grant->hold_anyway(static_cast<std::int64_t>(bytes));
                                      grant->sending();
                                    },
                                .hold = grant_});
    throw;
  }
}

}  // namespace agentfense::server
