// Listen addresses as written in the config and on the command line: "host:port" or
// ":port" (all interfaces); IPv6 hosts bracketed, "[::1]:9000"; port 0..65535, where 0
// asks the kernel for a free port (tests). Validated at start-up so that a typo such as
// "9000", "http://host:80" or "host:80:81" stops it with the key named, instead of
// failing later at bind time; the transports split the same text with
// parse_listen_address, so what they bind is what was checked.
#pragma once

#include <string>
#include <string_view>

namespace agentfense::server {

bool is_listen_address(std::string_view text);

struct ListenAddress {
  std::string host;  // "0.0.0.0" when the address had no host; IPv6 without brackets
  int port = 0;      // 0: any free port
};

// The parts the transports bind to. Throws UserError naming the text when
// !is_listen_address(text).
ListenAddress parse_listen_address(std::string_view text);

// The form gRPC's AddListeningPort expects ("[::1]:0", "0.0.0.0:9000").
std::string grpc_listen_uri(const ListenAddress& address);

// The host part of a listen address, IPv6 brackets removed: "" for ":9000", "::1" for
// "[::1]:9000" (the whole text when it has no ':').
std::string_view listen_host(std::string_view address);

// Whether two valid listen addresses would bind the same socket: the same non-zero port
// on the same host, or on hosts of which one is a wildcard ("", 0.0.0.0, ::). The gRPC
// and REST listeners given one port would otherwise fail at bind time with only the
// second one named.
bool listen_addresses_clash(std::string_view a, std::string_view b);

}  // namespace agentfense::server
