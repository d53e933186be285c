// memory_budget.h: what one-message answers may hold at once, server wide.
#include "server/memory_budget.h"

#include <gtest/gtest.h>

#include <optional>

#include "common/api_error.h"

namespace agentfense::server {
namespace {

TEST(MemoryBudget, ACallThatDoesNotFitIsRefusedAndTheBytesComeBack) {
  MemoryBudget budget(100, "of files for other reads");
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

TEST(MemoryBudget, AResultAlreadyMadeIsChargedPastTheBudgetAndNewCallsAreRefused) {
  MemoryBudget budget(100, "of command output for other calls");
  budget.check_room("Exec");  // nothing held yet
  std::optional<MemoryBudget::Grant> made(std::in_place, budget, "Exec");
  made->hold_anyway(150);  // never refused: the command already ran
  try {
    budget.check_room("Exec");
    FAIL() << "the budget was overdrawn";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(std::string(e.what()).find("of command output"), std::string::npos) << e.what();
  }
  made.reset();  // all 150 bytes come back
  budget.check_room("Exec");
  MemoryBudget::Grant whole(budget, "Exec");
  whole.hold(100);
}

TEST(MemoryBudget, OnePrincipalHoldsAtMostItsShareAndOthersAreStillServed) {
  MemoryBudget budget(100, "of command output for other calls", 50);
  std::optional<MemoryBudget::Grant> alice(std::in_place, budget, "Exec", "alice");
  alice->hold_anyway(60);  // a result already made is charged past the share too
  try {
    budget.check_room("Exec", "alice");
    FAIL() << "alice's share was spent";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(std::string(e.what()).find("principal alice holds"), std::string::npos) << e.what();
  }
  budget.check_room("Exec", "bob");
  budget.check_room("Exec");  // a caller not counted sees only the budget
  MemoryBudget::Grant bob(budget, "Exec", "bob");
  EXPECT_THROW(bob.hold(41), ApiError);  // 40 left in all
  bob.hold(40);
  EXPECT_THROW(budget.check_room("Exec", "carol"), ApiError);  // the budget is spent
  alice.reset();
  budget.check_room("Exec", "alice");
  MemoryBudget::Grant again(budget, "Exec", "alice");
  EXPECT_THROW(again.hold(51), ApiError);  // past the share, though 60 are left
  again.hold(50);
}

}  // namespace
}  // namespace agentfense::server
