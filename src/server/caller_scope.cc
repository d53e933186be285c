#include "server/caller_scope.h"

namespace agentfense::server {
namespace {

thread_local PrincipalPtr caller_on_this_thread;

}  // namespace

CallerScope::CallerScope(PrincipalPtr caller) : previous_(std::move(caller_on_this_thread)) {
  caller_on_this_thread = std::move(caller);
}

CallerScope::~CallerScope() {
  caller_on_this_thread = std::move(previous_);
}

const PrincipalPtr& current_caller() {
  return caller_on_this_thread;
}

}  // namespace agentfense::server
