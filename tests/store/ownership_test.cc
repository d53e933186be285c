// Ownership (store/ownership.h): who owns a codebase, sandbox or session, answered from
// the real database and then remembered, and forgotten when the resource is deleted.
#include "store/ownership.h"

#include "store/sandbox_records.h"
#include "store/session_records.h"
#include "store_test_util.h"

namespace agentfense::store::testing {
namespace {

class OwnershipTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    codebase_ = store_->create("a", "team-a").id();
    SandboxRecords sandboxes(*db_);
    v1::Sandbox sandbox;
    sandbox.set_id("sb_1");
    sandbox.set_codebase_id(codebase_);
    sandbox.set_status(v1::SANDBOX_STATUS_PENDING);
    sandboxes.put(sandbox);
    v1::Session session;
    session.set_id("se_1");
    session.set_sandbox_id("sb_1");
    session.set_status(v1::SESSION_STATUS_ACTIVE);
    SessionRecords(*db_).put(session);
  }
  std::string codebase_;
};

TEST_F(OwnershipTest, EveryKindResolvesToTheCodebaseOwner) {
  Ownership ownership(*db_);
  EXPECT_EQ(ownership.codebase_owner(codebase_), "team-a");
  EXPECT_EQ(ownership.sandbox_owner("sb_1"), "team-a");
  EXPECT_EQ(ownership.session_owner("se_1"), "team-a");
  // An id of one kind is not found as another kind, and a missing id is nullopt.
  EXPECT_FALSE(ownership.sandbox_owner(codebase_));
  EXPECT_FALSE(ownership.codebase_owner("sb_1"));
  EXPECT_FALSE(ownership.session_owner("se_missing"));
}

TEST_F(OwnershipTest, AMissingIdIsNeverRememberedAndADeletedOneIsForgotten) {
  Ownership ownership(*db_);
  EXPECT_FALSE(ownership.codebase_owner("cb_later"));
  const std::string later = store_->create("later", "team-b").id();
  EXPECT_EQ(ownership.codebase_owner(later), "team-b");  // looked up, not a stale miss

  EXPECT_EQ(ownership.sandbox_owner("sb_1"), "team-a");
  EXPECT_EQ(ownership.session_owner("se_1"), "team-a");
  SessionRecords(*db_).remove_for_sandbox("sb_1");
  ASSERT_TRUE(SandboxRecords(*db_).remove("sb_1"));
  // Remembered: the owner a resource had never changes (the inner API answers NOT_FOUND
  // for the id itself)...
  EXPECT_EQ(ownership.sandbox_owner("sb_1"), "team-a");
  // ...until the deletion is reported.
  ownership.forget("sb_1");
  EXPECT_FALSE(ownership.sandbox_owner("sb_1"));
  EXPECT_EQ(ownership.session_owner("se_1"), "team-a");
  ownership.forget("se_1");
  EXPECT_FALSE(ownership.session_owner("se_1"));
}

}  // namespace
}  // namespace agentfense::store::testing
