// The auth and TLS settings (issue 10): how they are read, which combinations stop
// start-up (with the one line an operator reads), and the key entries of auth.keys and
// the keys file.
#include <gtest/gtest.h>

#include "config_test_util.h"
#include "server/config/auth_settings.h"
#include "server/config/key_entries.h"

namespace agentfense::server::testing {
namespace {

const std::string kHash = "sha256:" + std::string(64, 'a');
const std::string kOtherHash = "sha256:" + std::string(64, 'b');

class AuthConfigTest : public ConfigFileTest {
 protected:
  Config load(const std::string& yaml) { return load_config(write_config(yaml)); }
  void expect_error(const std::string& yaml, std::string message) {
    const std::string path = write_config(yaml);
    for (size_t at = message.find('@'); at != std::string::npos; at = message.find('@', at))
      message.replace(at, 1, path);
    expect_user_error([&] { load_config(path); }, message);
  }
};

TEST(LoopbackAddress, OnlyThisHostCountsAsLoopback) {
  for (const char* address : {"127.0.0.1:9000", "127.1.2.3:1", "localhost:8080", "[::1]:0"})
    EXPECT_TRUE(is_loopback_address(address)) << address;
  for (const char* address :
       {":9000", "0.0.0.0:9000", "[::]:9000", "10.0.0.1:80", "my-host:80", "[::ffff:127.0.0.1]:1"})
    EXPECT_FALSE(is_loopback_address(address)) << address;
}

TEST(AuthSettings, TheDefaultIsLoopbackWithoutAuthentication) {
  const Config config;
  EXPECT_FALSE(authentication_required(config));
  EXPECT_NO_THROW(check_auth_settings(config));
  EXPECT_EQ(describe_auth_mode(config), "none (loopback only)");
}

TEST(AuthSettings, BeyondLoopbackWithoutAuthenticationIsRefusedInOneLine) {
  Config config;
  config.server.grpc_addr = ":9000";
  expect_user_error([&] { check_auth_settings(config); },
                    "server.grpc_addr ':9000' accepts connections from other hosts, but no "
                    "authentication is configured: add API keys (auth.keys_file, managed with "
                    "`agentfense server keys add`) or server.tls.client_ca, or set auth.mode: "
                    "none to serve a trusted network without authentication");
  config.server.grpc_addr = "127.0.0.1:9000";
  config.server.http_addr = "0.0.0.0:8080";
  EXPECT_THROW(check_auth_settings(config), UserError);
  config.auth.mode = AuthMode::kNone;  // the explicit opt-out
  EXPECT_NO_THROW(check_auth_settings(config));
  EXPECT_EQ(describe_auth_mode(config), "none");
  config.auth.mode = AuthMode::kDefault;
  config.auth.keys_file = "/etc/agentfense/keys.yaml";  // credentials: required, anywhere
  EXPECT_NO_THROW(check_auth_settings(config));
  EXPECT_TRUE(authentication_required(config));
  EXPECT_EQ(describe_auth_mode(config), "required");
}

TEST(AuthSettings, ContradictionsAreRefused) {
  Config config;
  config.auth.mode = AuthMode::kRequired;
  EXPECT_THROW(check_auth_settings(config), UserError);  // required, but nothing to check
  config.server.tls = {.cert = "/c.pem", .key = "/k.pem", .client_ca = "/ca.pem"};
  EXPECT_NO_THROW(check_auth_settings(config));  // client certificates are credentials
  config.auth.mode = AuthMode::kNone;
  EXPECT_THROW(check_auth_settings(config), UserError);  // none, with a client CA
  config = Config{};
  config.server.tls.key = "/k.pem";
  expect_user_error([&] { check_auth_settings(config); },
                    "server.tls needs both cert and key (only key is set)");
  config.server.tls = {.client_ca = "/ca.pem"};
  EXPECT_THROW(check_auth_settings(config), UserError);
}

TEST_F(AuthConfigTest, ReadsEverySetting) {
  const Config config = load(
      "server:\n  tls:\n    cert: /etc/af/tls/server.crt\n    key: /etc/af/tls/server.key\n"
      "    client_ca: /etc/af/tls/clients.crt\n"
      "auth:\n  mode: required\n  keys_file: /etc/af/keys.yaml\n"
      "  default_quotas:\n    running_sandboxes: 5\n    stored_bytes: 10GiB\n"
      "    requests_per_second: 20\n"
      "  keys:\n"
      "    - {id: ops, role: admin, hash: '" +
      kHash +
      "'}\n"
      "    - id: ci\n      owners: [ci, shared]\n      client_cn: ci-runner\n"
      "      quotas: {sessions: 2}\n");
  EXPECT_EQ(config.server.tls.cert, "/etc/af/tls/server.crt");
  EXPECT_EQ(config.server.tls.client_ca, "/etc/af/tls/clients.crt");
  EXPECT_EQ(config.auth.mode, AuthMode::kRequired);
  EXPECT_EQ(config.auth.keys_file, "/etc/af/keys.yaml");
  EXPECT_EQ(config.auth.default_quotas.running_sandboxes, 5);
  EXPECT_EQ(config.auth.default_quotas.stored_bytes, std::int64_t{10} << 30);
  EXPECT_EQ(config.auth.default_quotas.requests_per_second, 20);
  ASSERT_EQ(config.auth.keys.size(), 2u);
  const Principal ops = principal_of(config.auth.keys[0], config.auth.default_quotas);
  EXPECT_TRUE(ops.is_admin());
  EXPECT_EQ(ops.quotas.running_sandboxes, 5);
  const Principal ci = principal_of(config.auth.keys[1], config.auth.default_quotas);
  EXPECT_EQ(ci.owners, (std::vector<std::string>{"ci", "shared"}));
  EXPECT_EQ(ci.quotas.sessions, 2);
  EXPECT_EQ(ci.quotas.stored_bytes, std::int64_t{10} << 30);  // from the defaults
  EXPECT_TRUE(ci.may_access("shared"));
  EXPECT_FALSE(ci.may_access("other"));
  EXPECT_TRUE(ops.may_access("other"));
}

TEST_F(AuthConfigTest, BadEntriesNameTheEntryAndTheLine) {
  expect_error("auth:\n  keys:\n    - {id: a, owners: [x]}\n",
               "auth.keys[0] (principal a) must have exactly one of hash (an API key) and "
               "client_cn (a client certificate) in @ line 3");
  expect_error("auth:\n  keys:\n    - {id: a, owners: [x], hash: 'md5:1'}\n",
               "bad value for auth.keys[0].hash in @ line 3 (expected sha256: and 64 hex "
               "digits, as `agentfense server keys add` writes it)");
  expect_error("auth:\n  keys:\n    - {id: a, owner: [x], hash: '" + kHash + "'}\n",
               "unknown key 'auth.keys[0].owner' in @ line 3 (did you mean "
               "'auth.keys[0].owners'?)");
  {  // (the message holds an "@" of its own: the path is spliced in by hand)
    const std::string path =
        write_config("auth:\n  keys:\n    - {id: 'a b', owners: [x], hash: '" + kHash + "'}\n");
    expect_user_error([&] { load_config(path); },
                      "bad value 'a b' for auth.keys[0].id in " + path +
                          " line 3 (expected 1 to 128 letters, digits and . _ - @ :)");
  }
  expect_error("auth:\n  keys:\n    - {id: a, owners: [x], role: root, hash: '" + kHash + "'}\n",
               "bad value 'root' for auth.keys[0].role in @ line 3 (expected user or admin)");
  expect_error(
      "auth:\n  keys:\n    - {id: a, owners: [x], quotas: {sesions: 1}, hash: '" + kHash + "'}\n",
      "unknown quota 'sesions' in auth.keys[0].quotas in @ line 3 (did you mean "
      "'sessions'?)");
  expect_error("auth:\n  mode: open\n",
               "bad value 'open' for auth.mode in @ line 2 (expected none or required)");
}

TEST_F(AuthConfigTest, EntriesMustAgreeWithEachOther) {
  expect_error("auth:\n  keys:\n    - {id: a, owners: [x], hash: '" + kHash +
                   "'}\n    - {id: b, owners: [y], hash: '" + kHash + "'}\n",
               "auth.keys in @: key sha256:aaaaaaaaaaaa is listed twice (principals a and b)");
  expect_error("auth:\n  keys:\n    - {id: a, owners: [x], hash: '" + kHash +
                   "'}\n    - {id: a, owners: [y], hash: '" + kOtherHash + "'}\n",
               "auth.keys in @: principal a has different owners, role or quotas in its key "
               "sha256:aaaaaaaaaaaa and key sha256:bbbbbbbbbbbb entries; they must agree");
}

TEST(KeysFile, RendersAndReadsBackEveryField) {
  KeyEntry key{.principal_id = "alice",
               .owners = {"team-a", "shared"},
               .role = Role::kUser,
               .quotas = {{"stored_bytes", std::int64_t{1} << 30}, {"sessions", 4}},
               .key_id = "afk_AbCd1234",
               .hash = kHash,
               .created = "2026-01-02T03:04:05Z"};
  KeyEntry cert{.principal_id = "ci", .owners = {"ci"}, .client_cn = "ci runner: #1"};
  const std::string text = render_keys_file({key, cert});
  EXPECT_EQ(text.find("afk_AbCd1234"), text.find("key_id: afk_AbCd1234") + 8);
  const std::vector<KeyEntry> back = parse_keys_file(text, "/k.yaml");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].principal_id, "alice");
  EXPECT_EQ(back[0].owners, key.owners);
  EXPECT_EQ(back[0].quotas, key.quotas);
  EXPECT_EQ(back[0].hash, kHash);
  EXPECT_EQ(back[0].key_id, "afk_AbCd1234");
  EXPECT_EQ(back[0].created, key.created);
  EXPECT_EQ(back[1].client_cn, "ci runner: #1");
  EXPECT_TRUE(parse_keys_file("", "/k.yaml").empty());
  EXPECT_TRUE(parse_keys_file("keys: []\n", "/k.yaml").empty());
  expect_user_error([] { parse_keys_file("- a\n", "/k.yaml"); },
                    "keys file /k.yaml must be a mapping with one key, keys, holding a list of "
                    "entries");
}

}  // namespace
}  // namespace agentfense::server::testing
