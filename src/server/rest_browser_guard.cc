#include "server/rest_browser_guard.h"

#include <arpa/inet.h>

#include <algorithm>

#include "common/ascii_case.h"
#include "common/user_text.h"

namespace agentfense::server {
namespace {

bool listed(const std::vector<std::string>& entries, const std::string& value) {
  return std::any_of(entries.begin(), entries.end(), [&](const std::string& entry) {
    return entry == "*" || ascii_lower(entry) == value;
  });
}

// "name", "name:port", "1.2.3.4:port", "[::1]:port" -> the name or address alone.
std::string host_without_port(const std::string& host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string::npos ? host : host.substr(1, close - 1);
  }
  const auto colon = host.find(':');
  return colon == std::string::npos ? host : host.substr(0, colon);
}

// No DNS answer can put an address literal into a Host header: only a name rebinds.
bool is_address_literal(const std::string& name) {
  unsigned char buffer[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

}  // namespace

std::optional<std::string> refusal_for_browser(const BrowserPolicy& policy, const std::string& host,
                                               const std::string& origin,
                                               const std::string& fetch_site) {
  const std::string name = ascii_lower(host_without_port(host));
  // An HTTP/1.0 request may lack Host; browsers always send it.
  if (policy.check_host && !name.empty() && name != "localhost" && !is_address_literal(name) &&
      !listed(policy.allowed_hosts, name)) {
    return "Host '" + escape_user_text(host) +
           "' is not a name of this server; add it to server.allowed_hosts";
  }
  if (!origin.empty()) {
    if (listed(policy.allowed_origins, ascii_lower(origin))) return std::nullopt;
    return "requests from web pages (Origin '" + escape_user_text(origin) +
           "') are refused; add the origin to server.allowed_origins";
  }
  // A cross-site request without Origin (an <img> or <script> GET) still says where it
  // comes from in modern browsers.
  if (fetch_site == "cross-site" || fetch_site == "same-site") {
    return "requests from web pages (Sec-Fetch-Site: " + escape_user_text(fetch_site) +
           ") are refused; list their origin in server.allowed_origins";
  }
  return std::nullopt;
}

}  // namespace agentfense::server
