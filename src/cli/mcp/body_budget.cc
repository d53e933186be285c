#include "cli/mcp/body_budget.h"

namespace agentfense::cli::mcp {

std::shared_ptr<BodyBudget::Share> BodyBudget::take(std::size_t bytes) {
  {
    std::lock_guard lock(mu_);
    if (bytes > left_) return nullptr;
    left_ -= bytes;
  }
  return std::make_shared<Share>(*this, bytes);
}

void BodyBudget::give_back(std::size_t bytes) {
  std::lock_guard lock(mu_);
  left_ += bytes;
}

}  // namespace agentfense::cli::mcp
