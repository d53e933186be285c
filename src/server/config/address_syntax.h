// Start-up validation of listen addresses as written in the config and on the command
// line: "host:port" or ":port" (all interfaces); IPv6 hosts bracketed, "[::1]:9000";
// port 0..65535, where 0 asks the kernel for a free port (tests). Stricter than the
// transports' own parsing (server/listen_address.h) so that a typo such as "9000",
// "http://host:80" or "host:80:81" stops start-up with the key named, instead of
// failing later at bind time.
#pragma once

#include <string_view>

namespace agentfense::server {

bool is_listen_address(std::string_view text);

// The host part of a listen address, IPv6 brackets removed: "" for ":9000", "::1" for
// "[::1]:9000" (the whole text when it has no ':').
std::string_view listen_host(std::string_view address);

// Whether two valid listen addresses would bind the same socket: the same non-zero port
// on the same host, or on hosts of which one is a wildcard ("", 0.0.0.0, ::). The gRPC
// and REST listeners given one port would otherwise fail at bind time with only the
// second one named.
bool listen_addresses_clash(std::string_view a, std::string_view b);

}  // namespace agentfense::server
