// memory_budget.h: what one-message answers may hold at once, server wide.
#include "server/memory_budget.h"

#include <gtest/gtest.h>

#include <optional>

#include "common/api_error.h"

namespace agentfense::server {
namespace {

TEST(MemoryBudget, ACallThatDoesNotFitIsRefusedAndTheBytesComeBack) {
  MemoryBudget budget(100);
  std::optional<MemoryBudget::Grant> first(std::in_place, budget, "first");
  first->hold(60);
  MemoryBudget::Grant second(budget, "ReadSandboxFile");
  second.hold(40);  // exactly the rest
  MemoryBudget::Grant third(budget, "ReadSandboxFile");
  try {
    third.hold(1);
    FAIL() << "the budget was spent";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(std::string(e.what()).find("ReadSandboxFile"), std::string::npos) << e.what();
  }
  first.reset();  // its 60 bytes come back
  third.hold(60);
  second.hold(40);  // holding no more than before costs nothing
  EXPECT_THROW(second.hold(41), ApiError);
}

}  // namespace
}  // namespace agentfense::server
