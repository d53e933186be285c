#include "server/config/address_syntax.h"

#include <cctype>
#include <charconv>

#include "common/errors.h"

namespace agentfense::server {
namespace {

bool is_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (const char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

// A host name or IPv4 literal: letters, digits, '.', '-', '_'.
bool is_plain_host(std::string_view host) {
  for (const char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
      return false;
  }
  return true;
}

bool is_ipv6_literal(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return false;
  for (const char c : host) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  }
  return true;
}

std::string_view port_of(std::string_view address) {
  const size_t colon = address.rfind(':');
  return colon == std::string_view::npos ? std::string_view() : address.substr(colon + 1);
}

bool is_wildcard(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

}  // namespace

std::string_view listen_host(std::string_view address) {
  std::string_view host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host;
}

bool listen_addresses_clash(std::string_view a, std::string_view b) {
  const std::string_view port = port_of(a);
  if (port != port_of(b) || port.find_first_not_of('0') == std::string_view::npos) return false;
  const std::string_view x = listen_host(a), y = listen_host(b);
  return x == y || is_wildcard(x) || is_wildcard(y);
}

bool is_listen_address(std::string_view text) {
  if (text.starts_with('[')) {
    const size_t close = text.find("]:");
    return close != std::string_view::npos && is_ipv6_literal(text.substr(1, close - 1)) &&
           is_port(text.substr(close + 2));
  }
  const size_t colon = text.find(':');
  return colon != std::string_view::npos && is_plain_host(text.substr(0, colon)) &&
         is_port(text.substr(colon + 1));
}

ListenAddress parse_listen_address(std::string_view text) {
  if (!is_listen_address(text)) {
    throw UserError("listen address '" + std::string(text) +
                    "' must be host:port or :port, port 0..65535 (e.g. 127.0.0.1:9000)");
  }
  ListenAddress out;
  out.host = listen_host(text);
  if (out.host.empty()) out.host = "0.0.0.0";
  const std::string_view port = port_of(text);
  std::from_chars(port.data(), port.data() + port.size(), out.port);  // checked above
  return out;
}

std::string grpc_listen_uri(const ListenAddress& address) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  const std::string host = ipv6 ? "[" + address.host + "]" : address.host;
  return host + ":" + std::to_string(address.port);
}

}  // namespace agentfense::server
