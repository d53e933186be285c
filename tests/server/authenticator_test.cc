// Authentication against a real keys file on disk (auth/key_ring.h, authenticator.h):
// what is accepted, what is refused and how, reloading, and failing closed.
#include "server/auth/authenticator.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/errors.h"
#include "server/api.h"
#include "server/auth/api_key.h"

namespace agentfense::server {
namespace {

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-auth-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    keys_file_ = (dir_ / "keys.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A new key for `principal` in `entries`; returns the key.
  std::string add(std::vector<KeyEntry>& entries, const std::string& principal,
                  std::vector<std::string> owners, Role role = Role::kUser) {
    const std::string key = generate_api_key();
    entries.push_back({.principal_id = principal,
                       .owners = std::move(owners),
                       .role = role,
                       .key_id = api_key_id(key),
                       .hash = hash_api_key(key)});
    return key;
  }
  // Replaced by rename, as the CLI does, so the stamp always changes.
  void write(const std::string& text) {
    const std::string temp = keys_file_ + ".tmp";
    std::ofstream(temp, std::ios::trunc) << text;
    std::filesystem::rename(temp, keys_file_);
  }
  static std::string refusal(const CallGate& gate, const PresentedCredentials& presented) {
    try {
      gate.authenticate(presented);
    } catch (const ApiError& error) {
      EXPECT_EQ(error.code(), StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(error.reason(), kReasonUnauthenticated);
      return error.what();
    }
    return "accepted";
  }

  std::filesystem::path dir_;
  std::string keys_file_;
};

TEST_F(AuthenticatorTest, AcceptsKnownKeysAndCertificatesOnly) {
  std::vector<KeyEntry> entries;
  const std::string alice = add(entries, "alice", {"team-a"});
  entries.push_back({.principal_id = "ci", .owners = {"ci"}, .client_cn = "runner"});
  write(render_keys_file(entries));
  KeyRing keys({}, keys_file_, {.sessions = 3});
  Authenticator gate(keys, true);
  const PrincipalPtr who = gate.authenticate({.authorization = "Bearer " + alice});
  EXPECT_EQ(who->id, "alice");
  EXPECT_EQ(who->quotas.sessions, 3);  // default quotas apply
  EXPECT_EQ(gate.authenticate({.authorization = "bearer   " + alice + " "})->id, "alice");
  EXPECT_EQ(gate.authenticate({.certificate_cn = "runner"})->id, "ci");

  EXPECT_EQ(refusal(gate, {}),
            "authentication required: send 'authorization: Bearer <API key>' or a client "
            "certificate");
  EXPECT_EQ(refusal(gate, {.authorization = "Bearer " + generate_api_key()}),
            "API key not recognised (unknown, revoked or mistyped)");
  for (const std::string& header :
       std::vector<std::string>{"", "Bearer", "Basic " + alice, alice, "Bearer a b"})
    EXPECT_EQ(refusal(gate, {.authorization = header}),
              "malformed authorization: send exactly one 'authorization: Bearer <API key>'")
        << header;
  EXPECT_EQ(refusal(gate, {.certificate_cn = "stranger"}),
            "client certificate CN 'stranger' is not mapped to a principal (no key entry has "
            "this client_cn)");
  // A key that is sent decides, next to a good certificate too.
  EXPECT_NE(refusal(gate, {.authorization = "Bearer nope", .certificate_cn = "runner"}),
            "accepted");
}

TEST_F(AuthenticatorTest, RevocationAndNewKeysTakeEffectOnReload) {
  std::vector<KeyEntry> entries;
  const std::string alice = add(entries, "alice", {"team-a"});
  write(render_keys_file(entries));
  KeyRing keys({}, keys_file_, {});
  Authenticator gate(keys, false);
  EXPECT_EQ(refusal(gate, {.authorization = "Bearer " + alice}), "accepted");
  EXPECT_FALSE(keys.reload(false));  // unchanged: not re-read
  std::vector<KeyEntry> next;
  const std::string bob = add(next, "bob", {"team-b"});
  write(render_keys_file(next));  // alice revoked, bob added
  EXPECT_TRUE(keys.reload(false));
  EXPECT_NE(refusal(gate, {.authorization = "Bearer " + alice}), "accepted");
  EXPECT_EQ(refusal(gate, {.authorization = "Bearer " + bob}), "accepted");
  EXPECT_EQ(keys.principal("bob")->owners, std::vector<std::string>{"team-b"});
  EXPECT_EQ(keys.principal("alice"), nullptr);
}

TEST_F(AuthenticatorTest, ABrokenKeysFileWithdrawsItsKeysUntilFixed) {
  std::vector<KeyEntry> entries;
  const std::string alice = add(entries, "alice", {"team-a"});
  const std::string good = render_keys_file(entries);
  write(good);
  std::vector<KeyEntry> inline_entries;
  const std::string ops = add(inline_entries, "ops", {}, Role::kAdmin);
  KeyRing keys(inline_entries, keys_file_, {});
  Authenticator gate(keys, false);
  write("keys: [\n");
  EXPECT_TRUE(keys.reload(false));
  EXPECT_NE(refusal(gate, {.authorization = "Bearer " + alice}), "accepted");
  EXPECT_EQ(refusal(gate, {.authorization = "Bearer " + ops}), "accepted");  // inline stays
  write(good);
  keys.reload(false);
  EXPECT_EQ(refusal(gate, {.authorization = "Bearer " + alice}), "accepted");
}

TEST_F(AuthenticatorTest, AMissingKeysFileHasNoKeysAndABadOneStopsStartUp) {
  KeyRing empty({}, keys_file_, {});
  EXPECT_EQ(empty.size(), 0u);
  write("keys:\n  - {id: a}\n");
  EXPECT_THROW(KeyRing({}, keys_file_, {}), UserError);
}

TEST_F(AuthenticatorTest, TheOpenGateAdmitsEveryoneAsTheLocalAdmin) {
  OpenGate gate;
  EXPECT_EQ(gate.admit({.authorization = "Bearer whatever"}), local_principal());
  EXPECT_TRUE(local_principal()->is_admin());
}

}  // namespace
}  // namespace agentfense::server
