#include "server/unary_output.h"

#include <utility>

namespace agentfense::server {

UnaryOutput::UnaryOutput(MemoryBudget& budget, std::string what, std::string principal)
    : budget_(budget),
      what_(std::move(what)),
      principal_(std::move(principal)),
      grant_(std::make_shared<MemoryBudget::Grant>(budget_, what_, principal_)) {}

void UnaryOutput::check_room() const {
  budget_.check_room(what_, principal_);
}

std::function<void(runtime::Stream, std::string_view)> UnaryOutput::capture(
    std::function<bool()> stop_waiting) {
  grant_->begin_capturing();
  return [this, stop_waiting = std::move(stop_waiting)](runtime::Stream which,
                                                        std::string_view chunk) {
    kept_.keep(which, chunk);
    grant_->hold_anyway(captured_ += static_cast<std::int64_t>(chunk.size()));
    grant_->wait_for_room(stop_waiting);
  };
}

void UnaryOutput::fill(runtime::ExecResult& result) {
  kept_.fill(result);
}

void UnaryOutput::captured() {
  grant_->end_capturing();
}

v1::ExecResult UnaryOutput::charged(v1::ExecResult result, CallContext& call) {
  captured();
  grant_->hold_anyway(static_cast<std::int64_t>(result.stdout().size() + result.stderr().size() +
                                                result.stdout_bytes().size() +
                                                result.stderr_bytes().size()));
  grant_->sending();
  call.keep_until_sent(grant_);
  return result;
}

}  // namespace agentfense::server
