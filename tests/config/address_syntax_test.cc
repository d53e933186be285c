#include "server/config/address_syntax.h"

#include <gtest/gtest.h>

#include "common/errors.h"

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

TEST(AddressSyntax, ParsedIntoWhatTheTransportsBind) {
  const ListenAddress any = parse_listen_address(":9000");
  EXPECT_EQ(any.host, "0.0.0.0");
  EXPECT_EQ(any.port, 9000);
  EXPECT_EQ(grpc_listen_uri(any), "0.0.0.0:9000");
  const ListenAddress v6 = parse_listen_address("[::1]:0");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 0);
  EXPECT_EQ(grpc_listen_uri(v6), "[::1]:0");
  EXPECT_EQ(parse_listen_address("localhost:65535").port, 65535);
  // What start-up refuses, the transports refuse too (they used to split more loosely).
  for (const char* text :
       {"9000", "host:", "host:70000", "host:80x", "http://host:80", "a:80:81"}) {
    EXPECT_THROW(parse_listen_address(text), UserError) << text;
  }
}

}  // namespace
}  // namespace agentfense::server
