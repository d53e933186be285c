// `agentfense mcp --http ADDR`: PORT, :PORT, HOST:PORT or [V6]:PORT, loopback only. The
// endpoint has no authentication and gives a shell inside the sandbox, so it is never
// offered to the network (put an authenticating proxy in front to share it).
#pragma once

#include <string>

namespace agentfense::cli::mcp {

struct HttpAddress {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (printed at start)
};

// Throws UserError naming the flag for a malformed or non-loopback address.
HttpAddress parse_http_address(const std::string& text);

// "localhost", "127.0.0.1" (any 127/8), "::1", with an optional ":port" (Host headers).
bool is_loopback_host(std::string host, bool with_port);

}  // namespace agentfense::cli::mcp
