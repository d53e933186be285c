// memory_budget.h: what one-message answers may hold at once, server wide.
#include "server/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
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

TEST(MemoryBudget, AGrantLoweredGivesBackWhatItHeldPastTheNewSize) {
  MemoryBudget budget(100, "of files for other reads");
  MemoryBudget::Grant reading(budget, "DiffChanges");
  reading.hold(80);  // a reply and its parse copies, as read
  MemoryBudget::Grant other(budget, "ListChanges");
  EXPECT_THROW(other.hold(30), ApiError);
  reading.lower_to(40);  // made into the answer: its copies are gone
  other.hold(60);        // exactly what came back, and the rest
  reading.lower_to(50);  // lowering never raises
  EXPECT_THROW(other.hold(61), ApiError);
}

TEST(MemoryBudget, OneHolderHoldsAtMostItsShareAndOthersAreStillServed) {
  MemoryBudget budget(100, "of command output for other calls", 50);
  std::optional<MemoryBudget::Grant> alice(std::in_place, budget, "Exec", "owner team-a");
  alice->hold_anyway(60);  // a result already made is charged past the share too
  try {
    budget.check_room("Exec", "owner team-a");
    FAIL() << "alice's share was spent";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(std::string(e.what()).find("owner team-a holds 60 bytes"), std::string::npos)
        << e.what();
  }
  budget.check_room("Exec", "owner team-b");
  budget.check_room("Exec");  // a caller not counted sees only the budget
  MemoryBudget::Grant bob(budget, "Exec", "owner team-b");
  try {  // half of the 40 alice leaves
    bob.hold(21);
    FAIL() << "bob took more than half of what alice left";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("now less: half of what other tenants leave"),
              std::string::npos)
        << e.what();
    // Nothing of what others hold: only bob's own bytes and the fixed bounds.
    EXPECT_EQ(std::string(e.what()).find("20 bytes"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("60 bytes"), std::string::npos) << e.what();
  }
  bob.hold(20);
  budget.check_room("Exec", "owner team-c");  // 20 left: carol is still served
  alice.reset();
  budget.check_room("Exec", "owner team-a");
  MemoryBudget::Grant again(budget, "Exec", "owner team-a");
  EXPECT_THROW(again.hold(41), ApiError);  // half of the 80 bob leaves
  again.hold(40);
  MemoryBudget::Grant alone(budget, "Exec", "owner team-d");  // 40 left in all
  EXPECT_THROW(alone.hold(21), ApiError);
}

TEST(MemoryBudget, OneHolderAloneGetsTheWholeShare) {
  MemoryBudget budget(100, "of files for other reads", 50);
  MemoryBudget::Grant alice(budget, "ReadSandboxFile", "owner team-a");
  EXPECT_THROW(alice.hold(51), ApiError);
  alice.hold(50);
}

// Holds all `holder` may take now, in whole bytes; returns the grant.
std::unique_ptr<MemoryBudget::Grant> take_all(MemoryBudget& budget, const std::string& holder) {
  auto grant = std::make_unique<MemoryBudget::Grant>(budget, "exec", holder);
  std::int64_t low = 0, high = 1 << 20;  // low fits, high does not
  while (high - low > 1) {
    const std::int64_t middle = (low + high) / 2;
    MemoryBudget::Grant probe(budget, "exec", holder);
    try {
      probe.hold(middle);
      low = middle;
    } catch (const ApiError&) {
      high = middle;
    }
  }
  grant->hold(low);
  return grant;
}

// Sweep S's leftover: two tenants that each kept their half of unread answers (cancelled
// after a while, then sent again) held the whole budget for as long as they kept doing it.
TEST(MemoryBudget, HoldersThatKeepTakingAllTheyCanLeaveRoomForTheNext) {
  MemoryBudget budget(3000, "of command output for other calls", 1500);
  auto alice = take_all(budget, "owner team-a");  // alone: the whole 1500
  auto bob = take_all(budget, "owner team-b");
  for (int round = 0; round < 40; ++round) {  // each gives back and takes again, in turn
    alice.reset();
    alice = take_all(budget, "owner team-a");
    bob.reset();
    bob = take_all(budget, "owner team-b");
  }
  // Settled at a third each: a third is left, and anyone else may take half of it.
  MemoryBudget::Grant carol(budget, "exec", "owner team-c");
  EXPECT_NO_THROW(carol.hold(499));
  EXPECT_THROW(carol.hold(502), ApiError);
  MemoryBudget::Grant dave(budget, "exec", "owner team-d");
  EXPECT_NO_THROW(dave.hold(249));  // and room is left after carol too
}

// Sweep V, V1: shares bound what a tenant is admitted to take, not its slack (a result
// already made is charged past its share), and two tenants' slack filled the budget so
// that a third tenant was refused. An eighth is kept for holders that hold nothing yet.
TEST(MemoryBudget, AReserveIsKeptForHoldersThatHoldNothingYet) {
  MemoryBudget budget(800, "of command output for other calls", 400);  // reserve: 100
  MemoryBudget::Grant alice(budget, "exec", "owner team-a");
  alice.hold_anyway(700);  // made past her share
  MemoryBudget::Grant bob(budget, "exec", "owner team-b");
  bob.hold(30);  // within his share (half of the 100 alice leaves); 70 left
  EXPECT_THROW(budget.check_room("exec", "owner team-b"), ApiError) << "bob took the reserve";
  MemoryBudget::Grant more(budget, "exec", "owner team-b");
  EXPECT_THROW(more.hold(1), ApiError);
  EXPECT_EQ(more.hold_up_to(10), 0);
  budget.check_room("exec", "owner team-c");  // carol holds nothing: she is served
  MemoryBudget::Grant carol(budget, "exec", "owner team-c");
  carol.hold(35);             // half of the 70 left
  budget.check_room("exec");  // a caller not counted sees only the budget
}

// The same for capturing grants: one that began while its holder held some waits at the
// reserve; one that began while its holder held nothing may use it, as may the oldest.
TEST(MemoryBudget, OnlyANewcomersGrantOrTheOldestWritesIntoTheReserve) {
  MemoryBudget budget(800, "of command output for other calls", 400);  // reserve: 100
  MemoryBudget::Grant alice(budget, "exec", "owner team-a");
  alice.begin_capturing();  // the oldest of all
  alice.hold_anyway(650);
  MemoryBudget::Grant bob_first(budget, "exec", "owner team-b");
  bob_first.begin_capturing();  // bob held nothing: a newcomer
  bob_first.hold_anyway(10);
  MemoryBudget::Grant bob_second(budget, "exec", "owner team-b");
  bob_second.begin_capturing();  // bob holds 10 now
  bob_second.hold_anyway(50);    // 90 left: in the reserve; bob within his share (75)
  int asked = 0;
  bob_second.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 2) << "a grant of a holder already holding some wrote into the reserve";
  asked = 0;
  bob_first.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 0) << "a newcomer's grant waited at the reserve";
  // Execs started together: only the first is a newcomer's, though neither holds any yet.
  MemoryBudget::Grant carol_first(budget, "exec", "owner team-c"),
      carol_second(budget, "exec", "owner team-c");
  carol_first.begin_capturing();
  carol_second.begin_capturing();
  carol_second.hold_anyway(1);
  carol_second.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 2) << "the second of execs started together wrote into the reserve";
  asked = 0;
  carol_first.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 0);
  alice.hold_anyway(780);  // the oldest writes on past the reserve
  alice.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 0) << "the oldest waited";
  for (MemoryBudget::Grant* grant : {&alice, &bob_first, &bob_second, &carol_first, &carol_second})
    grant->end_capturing();
}

// A share shrinks as other holders' output grows, even below nothing: the holder's oldest
// capturing exec must still go on (only its own answers being sent stop it), or the other
// holders' execs, which wait for the oldest, would wait for good.
TEST(MemoryBudget, AShareShrunkByOthersDoesNotStopTheOldest) {
  MemoryBudget budget(1000, "of command output for other calls", 500);
  MemoryBudget::Grant alice(budget, "exec", "owner team-a"),
      bob_running(budget, "exec", "owner team-b");
  alice.begin_capturing();
  bob_running.begin_capturing();
  MemoryBudget::Grant bob_done(budget, "exec", "owner team-b");
  bob_done.hold_anyway(1000);  // a finished result waiting for its sync: alice's share < 0
  alice.hold_anyway(10);
  int asked = 0;
  alice.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 0) << "the oldest waited for a share others' output took";
  bob_running.hold_anyway(10);
  asked = 0;
  bob_running.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 2) << "a younger exec wrote on past the budget";
  alice.end_capturing();
  bob_running.end_capturing();
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
// sandbox's running commands: such results must never hold the oldest back, or the
// running commands and the finished ones wait for each other for good. Nor may the oldest
// write on past the bound (each exec of a sandbox became the oldest in turn, and all
// their results were held until the last ended: 12 of 32 MiB held 384 MiB of 256 MiB):
// what it writes past the bound is cut.
// Two execs of one holder: `finished` wrote `done` and ended (its answer waits for the
// sync after it), `oldest` runs on and wrote `running`.
void finish_one_of_two(MemoryBudget::Grant& finished, MemoryBudget::Grant& oldest,
                       std::int64_t done, std::int64_t running) {
  finished.begin_capturing();
  oldest.begin_capturing();
  finished.hold_anyway(done);
  finished.end_capturing();
  oldest.hold_anyway(running);
}

TEST(MemoryBudget, TheOldestIsCutPastTheBoundWhileResultsMayWaitForIt) {
  MemoryBudget budget(100, "of command output for other calls", 60);
  MemoryBudget::Grant finished(budget, "exec", "alice"), oldest(budget, "exec", "alice");
  finish_one_of_two(finished, oldest, 100, 10);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(oldest.wait_for_room([] { return false; }), MemoryBudget::Room::kCut)
      << "the oldest running exec wrote on past the bound";
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, MemoryBudget::kSettleWait - std::chrono::milliseconds(100));
  EXPECT_LT(waited, MemoryBudget::kSettleWait + std::chrono::seconds(2))
      << "the oldest running exec waited on for a result that waits for it";
  oldest.end_capturing();
}

// Sweep U, U2: another tenant's result finished in another sandbox (its sync waiting for
// a stream there) had the oldest exec of all cut after 2 s: such a result never waits for
// the oldest's command, so the oldest writes on past it.
TEST(MemoryBudget, ResultsOfOtherSandboxesDoNotCutTheOldest) {
  MemoryBudget budget(100, "of command output for other calls", 60);
  MemoryBudget::Grant oldest(budget, "exec", "bob", "sandbox-b");
  oldest.begin_capturing();
  MemoryBudget::Grant finished(budget, "exec", "alice", "sandbox-a");
  finished.begin_capturing();
  finished.hold_anyway(100);
  finished.end_capturing();  // finished, not sent: the budget is spent by alice
  oldest.hold_anyway(10);
  int asked = 0;
  EXPECT_EQ(oldest.wait_for_room([&] { return ++asked == 2; }), MemoryBudget::Room::kKeep);
  EXPECT_EQ(asked, 0) << "the oldest waited for (or was cut by) another sandbox's result";
  oldest.end_capturing();
}

// Sweep V, V1: a tenant's execs in several sandboxes each wrote all they had in turn,
// as the oldest, in the moment before the one before it became an answer being sent: its
// results filled the budget with another tenant's. The oldest waits for its own tenant's
// finished results in other sandboxes too (and, as for its own sandbox's, is cut if they
// do not become answers within kSettleWait: they may wait for it).
TEST(MemoryBudget, TheOldestWaitsForItsTenantsFinishedResultsInOtherSandboxes) {
  MemoryBudget budget(1000, "of command output for other calls", 500);
  std::optional<MemoryBudget::Grant> done(std::in_place, budget, "exec", "owner team-b", "b1");
  MemoryBudget::Grant oldest(budget, "exec", "owner team-b", "b2");
  done->begin_capturing();
  oldest.begin_capturing();
  done->hold_anyway(500);
  done->end_capturing();  // finished in b1, not yet an answer being sent
  oldest.hold_anyway(10);
  int asked = 0;
  oldest.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 2) << "the oldest wrote on past its tenant's finished result";
  done->sending();  // an answer now: the oldest waits for it to be read
  asked = 0;
  oldest.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 2);
  done.reset();  // read
  asked = 0;
  oldest.wait_for_room([&] { return ++asked == 2; });
  EXPECT_EQ(asked, 0);
  oldest.end_capturing();
}

TEST(MemoryBudget, HoldingUpToTakesWhatTheBudgetAndTheShareLeave) {
  MemoryBudget budget(100, "of command output for other calls", 60);
  MemoryBudget::Grant alice(budget, "exec", "owner team-a");
  alice.hold(30);
  EXPECT_EQ(alice.hold_up_to(50), 20);  // alone: half of the budget
  MemoryBudget::Grant bob(budget, "exec", "owner team-b");
  EXPECT_EQ(bob.hold_up_to(100), 25);  // half of the 50 alice leaves
  MemoryBudget::Grant local(budget, "exec");
  EXPECT_EQ(local.hold_up_to(100), 25);  // not counted: what the budget leaves
  EXPECT_EQ(local.hold_up_to(5), 0);
  EXPECT_EQ(alice.hold_up_to(-3), 0);
}

TEST(MemoryBudget, TheOldestWaitsForFinishedResultsToBeSent) {
  MemoryBudget budget(200, "of command output for other calls", 100);
  MemoryBudget::Grant finished(budget, "exec", "alice"), oldest(budget, "exec", "alice");
  finish_one_of_two(finished, oldest, 90, 20);  // alice: 110 of her 100
  std::thread sync([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    finished.sending();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(oldest.wait_for_room([] { return false; }), MemoryBudget::Room::kKeep);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250))
      << "the oldest did not wait for the result about to be sent";
  sync.join();
  oldest.end_capturing();
}

}  // namespace
}  // namespace agentfense::server
