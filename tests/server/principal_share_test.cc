// principal_share.h: what one tenant's calls may hold of a transport's threads.
#include "server/principal_share.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/api_error.h"
#include "server/caller_scope.h"

namespace agentfense::server {
namespace {

using Calls = std::vector<PrincipalShare::Held>;

// Takes calls for `holder` until refused; returns how many it got.
std::size_t take_all(PrincipalShare& share, const std::string& holder, Calls& calls) {
  for (std::size_t taken = 0;; ++taken) {
    try {
      calls.push_back(share.take(holder));
    } catch (const ApiError&) {
      return taken;
    }
  }
}

TEST(PrincipalShare, ATenantAloneHoldsHalfTheThreads) {
  PrincipalShare share(8, "gRPC calls", "the server's gRPC threads");
  Calls calls;
  EXPECT_EQ(take_all(share, "owner team-a", calls), 4u);
  try {
    calls.push_back(share.take("owner team-a"));
    FAIL() << "past the share";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(std::string(e.what()).find(
                  "owner team-a already has 4 gRPC calls in flight (at most 4 per tenant"),
              std::string::npos)
        << e.what();
  }
  calls.pop_back();  // one ends: its thread comes back
  calls.push_back(share.take("owner team-a"));
}

// Sweep T: two tenants each holding half of the 1,024 gRPC threads with stalled calls
// left none, and every other tenant's gRPC call was refused.
TEST(PrincipalShare, TwoTenantsThatHoldAllTheyCanLeaveRoomForOthers) {
  PrincipalShare share(1024, "gRPC calls", "the server's gRPC threads");
  Calls alice, bob, carol;
  EXPECT_EQ(take_all(share, "owner team-a", alice), 512u);
  EXPECT_EQ(take_all(share, "owner team-b", bob), 256u);
  try {
    bob.push_back(share.take("owner team-b"));
    FAIL() << "past the share";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("at most 512 per tenant: the server's gRPC threads are "
                                         "shared; now less: half of what other tenants leave"),
              std::string::npos)
        << e.what();
  }
  for (int round = 0; round < 20; ++round) {  // each lets go and takes all again, in turn
    alice.clear();
    take_all(share, "owner team-a", alice);
    bob.clear();
    take_all(share, "owner team-b", bob);
  }
  EXPECT_GE(take_all(share, "owner team-c", carol), 160u);  // a third is left: half of it
}

// Attack U4: taken first come, the k-th tenant's share was 1/2^k of the threads: ten
// tenants with stalled calls (512, 256, ... 1) left no gRPC thread for an eleventh, seven
// none of the 128 REST workers. An eighth stays free for tenants that hold fewer than 2
// (sweep V, V6: with "none", a tenant watching one stream had every other call refused).
TEST(PrincipalShare, TenantsThatFillTheirSharesFirstLeaveAThreadForEachNewcomer) {
  PrincipalShare share(1024, "gRPC calls", "the server's gRPC threads");
  std::vector<Calls> tenants(67);
  EXPECT_EQ(take_all(share, "owner t0", tenants[0]), 512u);  // the single tenant's cap
  EXPECT_EQ(take_all(share, "owner t1", tenants[1]), 256u);
  EXPECT_EQ(take_all(share, "owner t2", tenants[2]), 128u);
  try {
    tenants[3].push_back(share.take("owner t3"));
    tenants[3].push_back(share.take("owner t3"));
    tenants[3].push_back(share.take("owner t3"));
    FAIL() << "into the reserve";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "(at most 512 per tenant: the server's gRPC threads are shared; now less: 128 "
                  "of them stay free for tenants that hold fewer than 2)"),
              std::string::npos)
        << e.what();
  }
  for (std::size_t t = 4; t < 67; ++t)  // t3 holds 2 already: 63 more tenants get 2 each
    EXPECT_EQ(take_all(share, "owner t" + std::to_string(t), tenants[t]), 2u) << t;
  Calls late;
  EXPECT_EQ(take_all(share, "owner late", late), 0u);  // past 1/8 of the pool in tenants
  tenants[0].pop_back();  // a thread given back goes to a tenant that holds fewer first
  EXPECT_EQ(take_all(share, "owner t1", tenants[1]), 0u);
  EXPECT_EQ(take_all(share, "owner late", late), 1u);
}

TEST(PrincipalShare, SevenTenantsLeaveRestWorkersForAnEighth) {
  PrincipalShare share(128, "REST requests", "the REST workers");
  std::vector<Calls> tenants(8);
  std::vector<std::size_t> taken;
  for (std::size_t t = 0; t < tenants.size(); ++t)
    taken.push_back(take_all(share, "owner t" + std::to_string(t), tenants[t]));
  EXPECT_EQ(taken, (std::vector<std::size_t>{64, 32, 16, 2, 2, 2, 2, 2}));
}

TEST(PrincipalShare, KeysActingForTheSameOwnersShareOneShare) {
  const auto key = [](std::string id, std::vector<std::string> owners, Role role = Role::kUser) {
    return std::make_shared<const Principal>(
        Principal{.id = std::move(id), .owners = std::move(owners), .role = role});
  };
  EXPECT_EQ(share_holder(key("alice", {"team-a"})), "owner team-a");
  EXPECT_EQ(share_holder(key("alice2", {"team-a"})), "owner team-a");
  EXPECT_EQ(share_holder(key("both", {"z", "a"})), share_holder(key("both2", {"a", "z"})));
  EXPECT_EQ(share_holder(key("ops", {}, Role::kAdmin)), "principal ops");
  EXPECT_EQ(share_holder(local_principal()), "");
  EXPECT_EQ(share_holder(nullptr), "");
  // A key acting for two owners is one tenant, not a share under each (sweep X, X2).
  EXPECT_EQ(share_holder(key("both", {"a", "z"})), "owners a,z");
  EXPECT_NE(share_holder(key("both", {"a", "z"})), share_holder(key("alice", {"a"})));
  // The memory budgets count the same tenant, whichever owner's sandbox a call uses.
  {
    const CallerScope scope(key("both", {"z", "a"}));
    EXPECT_EQ(caller_holder(), "owners a,z");
  }
  EXPECT_EQ(caller_holder(), "");  // no call open: not counted
}

}  // namespace
}  // namespace agentfense::server
