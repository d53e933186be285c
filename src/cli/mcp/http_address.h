// `agentfense mcp --http ADDR`: PORT, :PORT, HOST:PORT or [V6]:PORT, loopback only. The
// endpoint gives a shell inside the sandbox to whoever holds its token (http_token.h),
// which plain HTTP would show to the network, so it is never offered there (put a TLS
// proxy in front to share it).
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
