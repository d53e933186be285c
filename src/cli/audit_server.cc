#include "cli/audit_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::cli {
namespace {

std::string url_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

struct Endpoint {
  std::string host, port;
};

Endpoint parse_base(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    throw UserError("--server must be http://HOST:PORT (the REST address), got '" + url + "'");
  }
  std::string rest = url.substr(kScheme.size());
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size()) return {rest, "80"};
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, rest.substr(colon + 1)};
}

UniqueFd connect_to(const Endpoint& endpoint) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(endpoint.host.c_str(), endpoint.port.c_str(), &hints, &found)) {
    throw UserError("cannot resolve " + endpoint.host + ": " + ::gai_strerror(rc));
  }
  int error = ECONNREFUSED;
  UniqueFd fd;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    UniqueFd candidate(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (candidate && ::connect(candidate.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      fd = std::move(candidate);
      break;
    }
    error = errno;
  }
  ::freeaddrinfo(found);
  if (!fd) throw SystemError("connect to " + endpoint.host + ":" + endpoint.port, error);
  return fd;
}

// Reads the response body as it arrives (chunked or until close) into `on_bytes`.
class ResponseReader {
 public:
  explicit ResponseReader(int fd) : fd_(fd) {}

  bool fill() {
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw SystemError("read from server", errno);
      if (n == 0) return false;
      data_.append(buffer, static_cast<size_t>(n));
      return true;
    }
  }
  // The header block (without the blank line).
  std::string headers() {
    size_t end;
    while ((end = data_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw UserError("the server closed the connection before answering");
    }
    std::string head = data_.substr(0, end);
    data_.erase(0, end + 4);
    return head;
  }
  void body(bool chunked, const std::function<void(std::string_view)>& on_bytes) {
    if (!chunked) {
      do {
        on_bytes(data_);
        data_.clear();
      } while (fill());
      return;
    }
    for (;;) {
      size_t eol;
      while ((eol = data_.find("\r\n")) == std::string::npos) {
        if (!fill()) return;
      }
      const size_t size = std::stoul(data_.substr(0, eol), nullptr, 16);
      data_.erase(0, eol + 2);
      if (size == 0) return;
      while (data_.size() < size + 2) {
        if (!fill()) throw UserError("the server's response ended mid-chunk");
      }
      on_bytes(std::string_view(data_).substr(0, size));
      data_.erase(0, size + 2);
    }
  }

 private:
  int fd_;
  std::string data_;
};

}  // namespace

void fetch_server_trail(const ServerTrailQuery& query,
                        const std::function<void(const std::string&)>& sink) {
  const Endpoint endpoint = parse_base(query.base_url);
  std::string target = "/v1/sandboxes/" + url_encode(query.sandbox) + "/audit?";
  const std::pair<const char*, std::string> params[] = {
      {"since", query.filter.since},     {"kind", query.filter.kind},
      {"outcome", query.filter.outcome}, {"path", query.filter.path},
      {"op", query.filter.op},           {"follow", query.follow ? "true" : ""}};
  for (const auto& [name, value] : params) {
    if (!value.empty()) target += std::string(name) + "=" + url_encode(value) + "&";
  }
  target.pop_back();
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + endpoint.host +
                        "\r\nAccept: application/x-ndjson\r\nConnection: close\r\n";
  if (!query.token.empty()) request += "Authorization: Bearer " + query.token + "\r\n";
  request += "\r\n";
  const UniqueFd fd = connect_to(endpoint);
  for (size_t done = 0; done < request.size();) {
    const ssize_t n = ::write(fd.get(), request.data() + done, request.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SystemError("send request to server", errno);
    done += static_cast<size_t>(n);
  }
  ResponseReader reader(fd.get());
  const std::string head = reader.headers();
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
  const bool ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
  std::string partial;
  std::string error_body;
  reader.body(chunked, [&](std::string_view bytes) {
    if (!ok) {
      error_body.append(bytes);
      return;
    }
    partial.append(bytes);
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      sink(partial.substr(start, nl - start));
    }
    partial.erase(0, start);
  });
  if (!ok) {
    const std::string status = head.substr(0, head.find("\r\n"));
    throw UserError("server answered " + status + ": " + error_body);
  }
}

}  // namespace agentfense::cli
