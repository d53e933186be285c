#include "server/answer_deadline.h"

namespace agentfense::server {
namespace {

thread_local AnswerDeadline* innermost_answer = nullptr;

}  // namespace

SendWatchdog::Clock::duration AnswerDeadline::allowed_for(std::size_t bytes) {
  return kBase +
         std::chrono::duration_cast<SendWatchdog::Clock::duration>(std::chrono::duration<double>(
             static_cast<double>(bytes) / static_cast<double>(kMinRate)));
}

AnswerDeadline::AnswerDeadline(SendWatchdog* watchdog, grpc::ServerContext& context)
    : watchdog_(watchdog), context_(context), outer_(innermost_answer) {
  innermost_answer = this;
}

AnswerDeadline::~AnswerDeadline() {
  innermost_answer = outer_;
}

void AnswerDeadline::made(std::size_t bytes) {
  if (watchdog_ != nullptr)
    armed_ = watchdog_->arm(&context_, SendWatchdog::Clock::now() + allowed_for(bytes));
}

void AnswerDeadline::answer_made(std::size_t bytes) {
  if (innermost_answer != nullptr) innermost_answer->made(bytes);
}

}  // namespace agentfense::server
