#include "server/config/address_syntax.h"

#include <gtest/gtest.h>

namespace agentfense::server {
namespace {

TEST(AddressSyntax, AcceptsHostPortPortOnlyAndBracketedIpv6) {
  for (const char* text : {":9000", "127.0.0.1:8080", "localhost:1", "my-host.example_1:443",
                           "[::1]:9000", "[::]:0", "[::ffff:127.0.0.1]:80"}) {
    EXPECT_TRUE(is_listen_address(text)) << "'" << text << "'";
  }
}

TEST(AddressSyntax, PortRangeIsZeroTo65535) {
  EXPECT_TRUE(is_listen_address(":0"));  // the kernel picks a free port
  EXPECT_TRUE(is_listen_address(":65535"));
  EXPECT_FALSE(is_listen_address(":65536"));
  EXPECT_FALSE(is_listen_address(":100000"));
  EXPECT_FALSE(is_listen_address(":000009000"));
}

TEST(AddressSyntax, RejectsMalformedAddresses) {
  for (const char* text : {"", "9000", ":", "host:", ":-1", ":80a", "::1:9000", "[::1]",
                           "[::1]9000", "[zz]:1", "[]:1", "http://x:80", "a b:80", "host:80:81"}) {
    EXPECT_FALSE(is_listen_address(text)) << "'" << text << "'";
  }
}

TEST(AddressSyntax, TwoListenersClashOnOnePortOfOneHostOrAWildcard) {
  EXPECT_TRUE(listen_addresses_clash("127.0.0.1:9000", "127.0.0.1:9000"));
  EXPECT_TRUE(listen_addresses_clash(":9000", "127.0.0.1:9000"));
  EXPECT_TRUE(listen_addresses_clash("[::1]:9000", "[::]:9000"));
  EXPECT_TRUE(listen_addresses_clash("0.0.0.0:9000", "localhost:9000"));
  EXPECT_FALSE(listen_addresses_clash("127.0.0.1:9000", "127.0.0.1:9001"));
  EXPECT_FALSE(listen_addresses_clash("127.0.0.1:9000", "127.0.0.2:9000"));
  EXPECT_FALSE(listen_addresses_clash(":0", ":0"));  // the kernel picks two ports
}

}  // namespace
}  // namespace agentfense::server
