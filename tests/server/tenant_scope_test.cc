// The quota admission of creations (tenant_scope.h CreateSlot) through the real
// ScopedCodebaseApi, over a real store: a slow create (an import of a large directory)
// must not hold up the principal's other calls, and creates under way still count, so
// concurrent ones cannot overshoot the quota.
#include "server/tenant_scope.h"

#include <future>

#include "../store/store_test_util.h"
#include "fake_api.h"
#include "server/caller_scope.h"
#include "server/scoped_api.h"
#include "store/ownership.h"
#include "store/sandbox_records.h"

namespace agentfense::server {
namespace {

using namespace std::chrono_literals;

// Creates codebases in the real store; the first call marked slow waits for release.
class SlowCreates : public testing::FakeApi {
 public:
  explicit SlowCreates(store::CodebaseStore& store) : store_(store) {}
  v1::Codebase CreateCodebase(const v1::CreateCodebaseRequest& request) override {
    if (fail_with) throw *fail_with;
    if (request.name() == "slow") {
      entered.Raise();
      EXPECT_TRUE(release.WaitFor(20s));
    }
    return store_.create(request.name(), request.owner_id());
  }
  testing::Signal entered, release;

 private:
  store::CodebaseStore& store_;
};

class TenantScopeTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ownership_ = std::make_unique<store::Ownership>(*db_);
    scope_ = std::make_unique<TenantScope>(*ownership_,
                                           [](const std::string&) { return PrincipalPtr(); });
    inner_ = std::make_unique<SlowCreates>(*store_);
    api_ = std::make_unique<ScopedCodebaseApi>(*inner_, *scope_, *store_);
  }

  // CreateCodebase as `caller`, on a thread of its own (a call's CallerScope is per thread).
  std::future<v1::Codebase> create(const std::string& name) {
    return std::async(std::launch::async, [this, name] {
      const CallerScope scope(caller_);
      v1::CreateCodebaseRequest request;
      request.set_name(name);
      return api_->CreateCodebase(request);
    });
  }

  const PrincipalPtr caller_ = std::make_shared<const Principal>(
      Principal{.id = "alice", .owners = {"team-a"}, .quotas = {.codebases = 2}});
  std::unique_ptr<store::Ownership> ownership_;
  std::unique_ptr<TenantScope> scope_;
  std::unique_ptr<SlowCreates> inner_;
  std::unique_ptr<ScopedCodebaseApi> api_;
};

TEST_F(TenantScopeTest, ASlowCreateHoldsUpNoOtherCallButCountsAgainstTheQuota) {
  std::future<v1::Codebase> slow = create("slow");
  ASSERT_TRUE(inner_->entered.WaitFor(10s));

  // While the slow one is under way, another create of the same principal goes through
  // (it used to wait for the quota lock the slow one held across its whole create)...
  std::future<v1::Codebase> quick = create("quick");
  ASSERT_EQ(quick.wait_for(10s), std::future_status::ready) << "held up by the slow create";
  EXPECT_EQ(quick.get().owner_id(), "team-a");

  // ...and the slow one counts: one made + one under way = the quota of 2.
  std::future<v1::Codebase> third = create("third");
  ASSERT_EQ(third.wait_for(10s), std::future_status::ready);
  const ApiError refused = store::testing::api_error_of([&] { third.get(); });
  EXPECT_EQ(refused.code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(std::string(refused.what()).find("quotas.codebases 2"), std::string::npos)
      << refused.what();

  inner_->release.Raise();
  EXPECT_EQ(slow.get().name(), "slow");
  EXPECT_EQ(ownership_->codebases_of("alice"), 2);
}

TEST_F(TenantScopeTest, AFailedCreateGivesItsPlaceBack) {
  inner_->fail_with = ApiError(StatusCode::INTERNAL, "disk on fire");
  for (int i = 0; i < 3; ++i) {
    const ApiError failed = store::testing::api_error_of([&] { create("x").get(); });
    EXPECT_EQ(failed.code(), StatusCode::INTERNAL);  // not the quota
  }
  inner_->fail_with.reset();
  create("a").get();
  create("b").get();
  EXPECT_EQ(ownership_->codebases_of("alice"), 2);
}

TEST_F(TenantScopeTest, ConcurrentCreatesCannotOvershoot) {
  std::vector<std::future<v1::Codebase>> creates;
  for (int i = 0; i < 8; ++i) creates.push_back(create("c" + std::to_string(i)));
  int made = 0, refused = 0;
  for (auto& each : creates) {
    try {
      each.get();
      ++made;
    } catch (const ApiError& error) {
      EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED);
      ++refused;
    }
  }
  EXPECT_EQ(made, 2);
  EXPECT_EQ(refused, 6);
  EXPECT_EQ(ownership_->codebases_of("alice"), 2);
}

// quotas.sandbox_disk_bytes: the sum of the write-layer quotas of the principal's
// sandboxes, whatever their status, with what is under way.
TEST_F(TenantScopeTest, SandboxDiskBytesSumsEverySandboxOfThePrincipal) {
  const std::string codebase = store_->create("c", "team-a").id();
  store::SandboxRecords records(*db_);
  const auto record = [&](const std::string& id, std::int64_t disk_bytes, v1::SandboxStatus status,
                          const std::string& principal) {
    v1::Sandbox sandbox;
    sandbox.set_id(id);
    sandbox.set_codebase_id(codebase);
    sandbox.set_status(status);
    sandbox.mutable_resources()->set_disk_bytes(disk_bytes);
    records.put(sandbox);
    ownership_->charge_sandbox(id, principal);
  };
  record("sb_stopped", 30, v1::SANDBOX_STATUS_STOPPED, "alice");
  record("sb_old", 0, v1::SANDBOX_STATUS_RUNNING, "alice");   // before quotas were recorded
  record("sb_bob", 1000, v1::SANDBOX_STATUS_RUNNING, "bob");  // another principal's
  const Principal alice{.id = "alice", .quotas = {.sandbox_disk_bytes = 100}};

  // 30 + 50 (the record without a quota counts as the server's) + 20 = 100: fits.
  const auto fits = scope_->sandbox_disk_slot(alice, 20, 50);
  // ...and, under way, it counts: one byte more does not fit.
  const ApiError over =
      store::testing::api_error_of([&] { scope_->sandbox_disk_slot(alice, 1, 50); });
  EXPECT_EQ(over.code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(std::string(over.what()).find("quotas.sandbox_disk_bytes"), std::string::npos)
      << over.what();
  // A sandbox without a write-layer quota cannot be counted: refused as a bad request.
  const ApiError unbounded =
      store::testing::api_error_of([&] { scope_->sandbox_disk_slot(alice, 0, 0); });
  EXPECT_EQ(unbounded.code(), StatusCode::INVALID_ARGUMENT);
  // Sums saturate instead of wrapping below the quota.
  const Principal huge{.id = "alice", .quotas = {.sandbox_disk_bytes = INT64_MAX - 1}};
  const ApiError wrapped =
      store::testing::api_error_of([&] { scope_->sandbox_disk_slot(huge, INT64_MAX, INT64_MAX); });
  EXPECT_EQ(wrapped.code(), StatusCode::RESOURCE_EXHAUSTED);
  // Without the quota nothing is counted or refused.
  const auto free_slot = scope_->sandbox_disk_slot(Principal{.id = "carol"}, 0, 0);
}

}  // namespace
}  // namespace agentfense::server
