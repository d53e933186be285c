#include "cli/mcp/http_address.h"

#include <arpa/inet.h>

#include <cstdlib>

#include "common/errors.h"

namespace agentfense::cli::mcp {
namespace {

bool all_digits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

bool is_loopback_host(std::string host, bool with_port) {
  if (!host.empty() && host.front() == '[') {  // [v6] or [v6]:port
    const auto close = host.find(']');
    if (close == std::string::npos) return false;
    const std::string rest = host.substr(close + 1);
    if (!rest.empty() && !(with_port && rest[0] == ':' && all_digits(rest.substr(1)))) return false;
    host = host.substr(1, close - 1);
  } else if (with_port) {  // name or v4, optionally :port (a bare v6 needs brackets here)
    if (const auto colon = host.find(':'); colon != std::string::npos) {
      if (!all_digits(host.substr(colon + 1))) return false;
      host.erase(colon);
    }
  }
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

HttpAddress parse_http_address(const std::string& text) {
  HttpAddress address;
  std::string port = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    std::string host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (!host.empty()) address.host = host;
  }
  if (!all_digits(port) || port.size() > 5 || std::atoi(port.c_str()) > 65535)
    throw UserError("--http expects PORT or HOST:PORT, got '" + text + "'");
  address.port = std::atoi(port.c_str());
  if (!is_loopback_host(address.host, false))
    throw UserError("--http " + text +
                    ": the MCP endpoint runs commands in the sandbox and speaks plain HTTP "
                    "(its token would cross the network in clear text), so it listens on "
                    "loopback only (127.0.0.1, ::1, localhost)");
  return address;
}

}  // namespace agentfense::cli::mcp
