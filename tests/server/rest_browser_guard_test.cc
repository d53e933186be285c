// rest_browser_guard.h: which REST requests a web page could have sent.
#include "server/rest_browser_guard.h"

#include <gtest/gtest.h>

namespace agentfense::server {
namespace {

bool served(const BrowserPolicy& policy, const std::string& host, const std::string& origin = "",
            const std::string& fetch_site = "") {
  return !refusal_for_browser(policy, host, origin, fetch_site).has_value();
}

TEST(BrowserGuard, AddressesAndLocalhostAreServedNamesOnlyWhenListed) {
  const BrowserPolicy none;
  for (const char* host : {"127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "10.1.2.3:80",
                           "localhost:8080", "LOCALHOST", ""})
    EXPECT_TRUE(served(none, host)) << host;
  // DNS rebinding: the attacker's name, now resolving to 127.0.0.1.
  for (const char* host : {"evil.example:8080", "evil.example", "127.0.0.1.evil.example",
                           "localhost.evil.example:8080"})
    EXPECT_FALSE(served(none, host)) << host;
  const BrowserPolicy named{.allowed_hosts = {"AgentFense.internal"}};
  EXPECT_TRUE(served(named, "agentfense.internal:8080"));
  EXPECT_FALSE(served(named, "other.internal:8080"));
  EXPECT_TRUE(served({.allowed_hosts = {"*"}}, "anything.example"));
  // A server with keys or TLS cannot be rebound into: any name, but still no web page.
  const BrowserPolicy authenticated{.check_host = false};
  EXPECT_TRUE(served(authenticated, "sandboxes.example:8080"));
  EXPECT_FALSE(served(authenticated, "sandboxes.example:8080", "https://evil.example"));
}

TEST(BrowserGuard, WebPagesAreRefusedUnlessTheirOriginIsListed) {
  const BrowserPolicy none;
  EXPECT_FALSE(served(none, "127.0.0.1:8080", "http://evil.example"));
  EXPECT_FALSE(served(none, "127.0.0.1:8080", "null"));  // sandboxed iframes, file://
  EXPECT_FALSE(served(none, "127.0.0.1:8080", "http://127.0.0.1:8080"));
  EXPECT_FALSE(served(none, "127.0.0.1:8080", "", "cross-site"));  // an <img> GET
  EXPECT_FALSE(served(none, "127.0.0.1:8080", "", "same-site"));
  EXPECT_TRUE(served(none, "127.0.0.1:8080", "", "none"));  // typed into the address bar
  const BrowserPolicy app{.allowed_origins = {"https://app.example.com"}};
  EXPECT_TRUE(served(app, "127.0.0.1:8080", "https://APP.example.com"));
  EXPECT_FALSE(served(app, "127.0.0.1:8080", "https://app.example.com.evil.example"));
  const std::optional<std::string> why =
      refusal_for_browser(none, "127.0.0.1", "http://evil.example", "");
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("server.allowed_origins"), std::string::npos) << *why;
}

}  // namespace
}  // namespace agentfense::server
