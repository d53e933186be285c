#include "store/page_token.h"
#include "store/sandbox_records.h"
#include "store/session_records.h"
#include "store/timestamps.h"
#include "store_test_util.h"

namespace agentfense::store::testing {
namespace {

class RecordsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    alice_cb_ = store_->create("a", "alice").id();
    bob_cb_ = store_->create("b", "bob").id();
    make_records();
  }
  void make_records() {
    sandboxes_ = std::make_unique<SandboxRecords>(*db_);
    sessions_ = std::make_unique<SessionRecords>(*db_);
  }
  v1::Sandbox sandbox(const std::string& id, const std::string& codebase, int64_t created_s) {
    v1::Sandbox out;
    out.set_id(id);
    out.set_codebase_id(codebase);
    out.set_status(v1::SANDBOX_STATUS_PENDING);
    *out.mutable_created_at() = to_timestamp(created_s * 1'000'000);
    *out.mutable_expires_at() = to_timestamp((created_s + 3600) * 1'000'000);
    (*out.mutable_labels())["team"] = "red";
    auto* rule = out.add_permissions();
    rule->set_pattern("**/*.env");
    rule->set_permission(v1::PERMISSION_NONE);
    return out;
  }
  v1::Session session(const std::string& id, const std::string& sandbox_id, int64_t created_s) {
    v1::Session out;
    out.set_id(id);
    out.set_sandbox_id(sandbox_id);
    out.set_status(v1::SESSION_STATUS_ACTIVE);
    out.set_shell("/bin/bash");
    *out.mutable_created_at() = to_timestamp(created_s * 1'000'000);
    return out;
  }
  std::string alice_cb_, bob_cb_;
  std::unique_ptr<SandboxRecords> sandboxes_;
  std::unique_ptr<SessionRecords> sessions_;
};

TEST_F(RecordsTest, SandboxPutGetUpsertRemove) {
  const v1::Sandbox original = sandbox("sb_1", alice_cb_, 100);
  sandboxes_->put(original);
  ASSERT_TRUE(sandboxes_->get("sb_1"));
  EXPECT_EQ(sandboxes_->get("sb_1")->SerializeAsString(), original.SerializeAsString());
  EXPECT_FALSE(sandboxes_->get("sb_missing"));

  v1::Sandbox running = original;
  running.set_status(v1::SANDBOX_STATUS_RUNNING);
  sandboxes_->put(running);
  EXPECT_EQ(sandboxes_->get("sb_1")->status(), v1::SANDBOX_STATUS_RUNNING);
  EXPECT_EQ(sandboxes_->list_all().size(), 1u);

  EXPECT_TRUE(sandboxes_->remove("sb_1"));
  EXPECT_FALSE(sandboxes_->remove("sb_1"));
  EXPECT_FALSE(sandboxes_->get("sb_1"));
}

TEST_F(RecordsTest, SandboxOnUnknownCodebaseIsNotFound) {
  const ApiError error = api_error_of([&] { sandboxes_->put(sandbox("sb_1", "cb_nope", 1)); });
  EXPECT_EQ(error.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(error.reason(), kReasonCodebaseNotFound);
}

TEST_F(RecordsTest, SandboxListPagesWithCodebaseFilter) {
  // Two share a created_at: the id breaks the tie.
  for (int i = 0; i < 7; ++i) {
    sandboxes_->put(sandbox("sb_a" + std::to_string(i), alice_cb_, 100 + i / 2));
  }
  sandboxes_->put(sandbox("sb_b0", bob_cb_, 50));

  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    const v1::ListSandboxesResponse page = sandboxes_->list(alice_cb_, 3, token);
    for (const v1::Sandbox& s : page.sandboxes()) ids.push_back(s.id());
    token = page.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ids, (std::vector<std::string>{"sb_a0", "sb_a1", "sb_a2", "sb_a3", "sb_a4", "sb_a5",
                                           "sb_a6"}));
  EXPECT_EQ(sandboxes_->list("", 0, "").sandboxes(0).id(), "sb_b0");
  EXPECT_EQ(sandboxes_->list("", 0, "").sandboxes_size(), 8);

  const std::string codebase_token = store_->list("", 1, "").next_page_token();
  EXPECT_EQ(api_error_of([&] { sandboxes_->list("", 1, codebase_token); }).code(),
            StatusCode::INVALID_ARGUMENT);
}

// Sweep V, V4: a page was bounded by its count only, and sandbox records with their rules
// and labels run to ~450 KB: unread pages of 64 held 57 MiB each in the server.
TEST_F(RecordsTest, APageEndsAtItsByteBoundAndTheNextGoesOn) {
  const std::string rule(4000, 'r');
  for (int i = 0; i < 30; ++i) {
    v1::Sandbox big = sandbox("sb_" + std::to_string(100 + i), alice_cb_, 100 + i);
    for (int r = 0; r < 100; ++r) big.add_permissions()->set_pattern(rule + std::to_string(r));
    sandboxes_->put(big);
  }
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    const v1::ListSandboxesResponse page = sandboxes_->list("", 1000, token);
    EXPECT_LT(page.ByteSizeLong(), kMaxPageBytes + 500'000);
    for (const v1::Sandbox& s : page.sandboxes()) ids.push_back(s.id());
    token = page.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);  // ~400 KB each: 11, 11 and 8
  ASSERT_EQ(ids.size(), 30u);
  EXPECT_EQ(ids.front(), "sb_100");
  EXPECT_EQ(ids.back(), "sb_129");
}

TEST_F(RecordsTest, CountForOwnerJoinsThroughCodebases) {
  sandboxes_->put(sandbox("sb_1", alice_cb_, 1));
  sandboxes_->put(sandbox("sb_2", alice_cb_, 2));
  sandboxes_->put(sandbox("sb_3", bob_cb_, 3));
  EXPECT_EQ(sandboxes_->count_for_owner("alice"), 2);
  EXPECT_EQ(sandboxes_->count_for_owner("bob"), 1);
  EXPECT_EQ(sandboxes_->count_for_owner("carol"), 0);
  sandboxes_->remove("sb_1");
  EXPECT_EQ(sandboxes_->count_for_owner("alice"), 1);
}

TEST_F(RecordsTest, SessionsBelongToTheirSandbox) {
  sandboxes_->put(sandbox("sb_1", alice_cb_, 1));
  sandboxes_->put(sandbox("sb_2", alice_cb_, 2));
  sessions_->put(session("ss_2", "sb_1", 20));
  sessions_->put(session("ss_1", "sb_1", 10));
  sessions_->put(session("ss_3", "sb_2", 5));

  const std::vector<v1::Session> listed = sessions_->list_for_sandbox("sb_1");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id(), "ss_1");
  EXPECT_EQ(listed[1].id(), "ss_2");
  EXPECT_EQ(listed[0].shell(), "/bin/bash");

  v1::Session closed = listed[0];
  closed.set_status(v1::SESSION_STATUS_CLOSED);
  sessions_->put(closed);
  EXPECT_EQ(sessions_->get("ss_1")->status(), v1::SESSION_STATUS_CLOSED);
  EXPECT_FALSE(sessions_->get("ss_none"));

  // Updating the sandbox keeps its sessions (an upsert, not delete + insert).
  sandboxes_->put(sandbox("sb_1", alice_cb_, 1));
  EXPECT_EQ(sessions_->list_for_sandbox("sb_1").size(), 2u);

  EXPECT_EQ(sessions_->remove_for_sandbox("sb_1"), 2);
  EXPECT_TRUE(sessions_->list_for_sandbox("sb_1").empty());
  EXPECT_TRUE(sessions_->remove("ss_3"));
  EXPECT_FALSE(sessions_->remove("ss_3"));

  const ApiError error = api_error_of([&] { sessions_->put(session("ss_9", "sb_x", 1)); });
  EXPECT_EQ(error.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(error.reason(), kReasonSandboxNotFound);
}

TEST_F(RecordsTest, RemovingASandboxRemovesItsSessions) {
  sandboxes_->put(sandbox("sb_1", alice_cb_, 1));
  sessions_->put(session("ss_1", "sb_1", 1));
  sandboxes_->remove("sb_1");
  EXPECT_FALSE(sessions_->get("ss_1"));
}

TEST_F(RecordsTest, RecordsSurviveRestart) {
  sandboxes_->put(sandbox("sb_1", alice_cb_, 1));
  sessions_->put(session("ss_1", "sb_1", 1));
  sandboxes_.reset();
  sessions_.reset();
  reopen();
  make_records();
  ASSERT_TRUE(sandboxes_->get("sb_1"));
  EXPECT_EQ(sandboxes_->get("sb_1")->labels().at("team"), "red");
  EXPECT_EQ(sandboxes_->get("sb_1")->permissions(0).pattern(), "**/*.env");
  EXPECT_EQ(sessions_->list_for_sandbox("sb_1").size(), 1u);
}

}  // namespace
}  // namespace agentfense::store::testing
