// memory_budget.h: what one-message answers may hold at once, server wide.
#include "server/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

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

// Capturing grants (unary_output.h) wait while the budget is overdrawn, the oldest
// excepted: execs that all write at once never block each other for good.
TEST(MemoryBudget, OnlyTheOldestCapturingGrantWritesOnWhileTheBudgetIsOverdrawn) {
  MemoryBudget budget(100, "of command output for other calls");
  const auto never = [] { return false; };
  MemoryBudget::Grant older(budget, "exec"), younger(budget, "exec");
  older.begin_capturing();
  younger.begin_capturing();
  older.hold_anyway(60);
  younger.hold_anyway(60);     // overdrawn now: 120 of 100
  older.wait_for_room(never);  // the oldest never waits
  std::atomic<bool> waited_out = false;
  std::thread writer([&] {
    younger.wait_for_room(never);
    waited_out = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(waited_out) << "the younger grant wrote on past the budget";
  older.end_capturing();  // its command ended: the younger one is the oldest now
  writer.join();
  EXPECT_TRUE(waited_out);
  younger.end_capturing();
}

TEST(MemoryBudget, AWaitingGrantGoesOnWhenBytesComeBackOrItGivesUp) {
  MemoryBudget budget(100, "of command output for other calls");
  std::optional<MemoryBudget::Grant> unread(std::in_place, budget, "exec");
  unread->hold_anyway(100);  // a finished result, not yet sent
  MemoryBudget::Grant oldest(budget, "exec"), waiting(budget, "exec");
  oldest.begin_capturing();
  waiting.begin_capturing();
  waiting.hold_anyway(10);
  std::atomic<bool> went_on = false;
  std::thread writer([&] {
    waiting.wait_for_room([] { return false; });
    went_on = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(went_on);
  unread.reset();  // sent: its 100 bytes come back
  writer.join();
  EXPECT_TRUE(went_on);
  unread.emplace(budget, "exec");
  unread->hold_anyway(100);
  const auto start = std::chrono::steady_clock::now();
  int asked = 0;
  waiting.wait_for_room([&] { return ++asked == 3; });  // e.g. its deadline passed
  EXPECT_EQ(asked, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(MemoryBudget, APrincipalOverItsShareWaitsOnlyForItsOwnOldest) {
  MemoryBudget budget(1000, "of command output for other calls", 100);
  const auto never = [] { return false; };
  MemoryBudget::Grant alice_old(budget, "exec", "alice"), bob(budget, "exec", "bob"),
      alice_new(budget, "exec", "alice");
  alice_old.begin_capturing();
  bob.begin_capturing();
  alice_new.begin_capturing();
  alice_old.hold_anyway(80);
  alice_new.hold_anyway(40);  // alice: 120 of her 100
  bob.hold_anyway(10);
  bob.wait_for_room(never);        // bob is within his share
  alice_old.wait_for_room(never);  // alice's oldest goes on
  int asked = 0;
  alice_new.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 2) << "alice's younger exec did not wait";
}

// Sweep R: 24 execs of one principal, each the oldest in turn, each wrote its whole
// output, and each finished result stayed held while its slow caller read it: 360 MB of
// a 256 MiB budget, and other principals' execs refused. Answers being sent now make
// even the oldest wait once they fill the share (or the budget) by themselves.
TEST(MemoryBudget, TheOldestWaitsWhileAnswersBeingSentAloneFillTheShareOrTheBudget) {
  MemoryBudget budget(300, "of command output for other calls", 100);
  const auto never = [] { return false; };
  const auto twice = [](int& asked) { return [&asked] { return ++asked == 2; }; };
  std::optional<MemoryBudget::Grant> alice_unread(std::in_place, budget, "exec", "alice");
  alice_unread->hold_anyway(100);  // her answers being sent fill her share
  alice_unread->sending();
  MemoryBudget::Grant alice(budget, "exec", "alice"), bob(budget, "exec", "bob");
  alice.begin_capturing();
  bob.begin_capturing();
  int asked = 0;
  alice.wait_for_room(twice(asked));
  EXPECT_EQ(asked, 2) << "alice's oldest wrote on past her unread results";
  bob.hold_anyway(10);
  bob.wait_for_room(never);  // bob is not held back by alice's results
  alice_unread.reset();      // read: her oldest goes on
  alice.wait_for_room(never);

  // Server wide: finished results of several principals fill the budget.
  std::optional<MemoryBudget::Grant> carol(std::in_place, budget, "exec", "carol");
  std::optional<MemoryBudget::Grant> dave(std::in_place, budget, "exec", "dave");
  carol->hold_anyway(100);
  carol->sending();
  dave->hold_anyway(100);
  dave->sending();
  MemoryBudget::Grant eve(budget, "exec", "eve");
  eve.hold_anyway(100);
  eve.sending();  // 310 of 300, 10 of it captured by bob
  asked = 0;
  bob.wait_for_room(twice(asked));
  EXPECT_EQ(asked, 2) << "the oldest wrote on while finished results filled the budget";
  carol.reset();
  bob.wait_for_room(never);
  alice.end_capturing();
  bob.end_capturing();
}

// A command's finished result waits for the sync after it, and that sync waits for the
// sandbox's running commands: results not yet being sent must never hold the oldest
// back, or the running commands and the finished ones wait for each other for good.
TEST(MemoryBudget, FinishedResultsNotYetSentDoNotHoldTheOldestBack) {
  MemoryBudget budget(100, "of command output for other calls", 60);
  MemoryBudget::Grant finished(budget, "exec", "alice"), oldest(budget, "exec", "alice");
  finished.begin_capturing();
  oldest.begin_capturing();
  finished.hold_anyway(100);
  finished.end_capturing();  // its command ended; its answer waits for the sync
  oldest.hold_anyway(10);
  int asked = 0;
  oldest.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 0) << "the oldest running exec waited for a result that waits for it";
  oldest.end_capturing();
}

}  // namespace
}  // namespace agentfense::server
