#include "cli/server_client.h"

#include <httplib.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <thread>

#include "cli/mcp/http_address.h"
#include "common/unique_fd.h"

namespace agentfense::cli {

std::string api_key_from(const std::string& flag, std::initializer_list<const char*> also_from) {
  if (!flag.empty()) return flag;
  if (const char* key = std::getenv("AGENTFENSE_API_KEY")) return key;
  for (const char* name : also_from)
    if (const char* key = std::getenv(name)) return key;
  return "";
}
namespace {

using nlohmann::json;

// Closes the client's connection once `cancel_fd` is readable; stops watching when
// destroyed (the call ended).
class CancelWatch {
 public:
  CancelWatch(httplib::Client& client, int cancel_fd) {
    if (cancel_fd < 0) return;
    int fds[2];
    check_syscall(::pipe2(fds, O_CLOEXEC), "pipe");
    done_read_ = UniqueFd(fds[0]);
    done_write_ = UniqueFd(fds[1]);
    thread_ = std::thread([this, &client, cancel_fd] {
      pollfd polled[2] = {{cancel_fd, POLLIN, 0}, {done_read_.get(), POLLIN, 0}};
      while (::poll(polled, 2, -1) < 0 && errno == EINTR) {
      }
      if (polled[0].revents != 0 && polled[1].revents == 0) {
        fired_ = true;
        client.stop();
      }
    });
  }
  ~CancelWatch() {
    if (!thread_.joinable()) return;
    const char byte = 0;
    (void)!::write(done_write_.get(), &byte, 1);
    thread_.join();
  }
  bool fired() const { return fired_; }

 private:
  UniqueFd done_read_, done_write_;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

// What went wrong on the way to the server, in words a user can act on.
std::string describe(httplib::Error error, const std::string& ca_cert) {
  switch (error) {
    case httplib::Error::Connection:
      return "could not connect (nothing listening there, or the host is unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "the connection timed out";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed (is the address https:// on a TLS port?)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificate " + (ca_cert.empty() ? "store" : "'" + ca_cert + "'");
    case httplib::Error::SSLServerVerification:
      return "its TLS certificate is not trusted" +
             std::string(ca_cert.empty() ? " (give its CA with --ca-cert)" : " by --ca-cert");
    case httplib::Error::Read:
      return "the connection was closed before the answer (is the address http:// on a TLS "
             "port, or a timeout?)";
    default:
      return httplib::to_string(error);
  }
}

// HOST[:PORT] of an http(s):// URL: what follows the scheme, up to the path.
std::string authority_of(const std::string& url) {
  const std::string rest = url.substr(url.find("://") + 3);
  return rest.substr(0, rest.find_first_of("/?#"));
}

// A key in an Authorization header over plain http:// can be read by anyone on the path
// to the server; the SDK refuses it too (docs/security.md). Loopback never leaves the
// machine. A host name other than localhost may resolve anywhere: refused.
void check_key_not_in_clear(const ServerOptions& options) {
  if (options.api_key.empty() || !options.url.starts_with("http://")) return;
  if (mcp::is_loopback_host(authority_of(options.url), true)) return;
  throw UserError(
      "refusing to send the API key (--api-key or $AGENTFENSE_API_KEY) in clear "
      "text to " +
      options.url +
      ": use the server's https:// address (with --ca-cert FILE for a private "
      "CA), or a loopback http:// address (127.0.0.1, ::1, localhost)");
}

}  // namespace

std::string url_escape(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

ServerClient::ServerClient(ServerOptions options) : options_(std::move(options)) {
  while (options_.url.ends_with('/')) options_.url.pop_back();
  if (!options_.url.starts_with("http://") && !options_.url.starts_with("https://"))
    throw UserError(
        "--server must be the server's REST address, http://HOST:PORT or "
        "https://HOST:PORT, got '" +
        options_.url + "'");
  if (!options_.ca_cert.empty() && !options_.url.starts_with("https://"))
    throw UserError("--ca-cert needs an https:// --server address");
  check_key_not_in_clear(options_);
}

std::unique_ptr<httplib::Client> ServerClient::client(
    std::chrono::milliseconds read_timeout) const {
  auto client = std::make_unique<httplib::Client>(options_.url);
  if (!options_.ca_cert.empty()) client->set_ca_cert_path(options_.ca_cert);
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(std::chrono::seconds(10));
  client->set_read_timeout(read_timeout);
  client->set_write_timeout(std::chrono::seconds(60));
  httplib::Headers headers;
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  client->set_default_headers(std::move(headers));
  return client;
}

void ServerClient::throw_error(int status, const std::string& body) const {
  const json answer = json::parse(body, nullptr, false);
  const std::string message =
      answer.is_object() ? answer.value("message", std::string()) : std::string();
  throw ServerError(status,
                    answer.is_object() ? answer.value("reason", std::string()) : std::string(),
                    message.empty() ? "HTTP " + std::to_string(status) : message,
                    answer.is_discarded() ? json() : answer);
}

json ServerClient::call(const char* method, const std::string& path, const json& body,
                        std::chrono::milliseconds timeout, int cancel_fd) const {
  const std::unique_ptr<httplib::Client> client = this->client(timeout);
  const httplib::Headers headers = {{"Accept", "application/json"}};
  const std::string payload = body.is_null() ? std::string("{}") : body.dump();
  const std::string verb = method;
  const auto send = [&] {
    if (verb == "GET") return client->Get(path, headers);
    if (verb == "DELETE") return client->Delete(path, headers);
    return client->Post(path, headers, payload, "application/json");
  };
  bool cancelled = false;
  const httplib::Result result = [&] {
    CancelWatch watch(*client, cancel_fd);
    httplib::Result sent = send();
    cancelled = watch.fired();
    return sent;
  }();
  if (cancelled) throw ServerCallCancelled();
  if (!result)
    throw UserError("cannot reach the agentfense server at " + options_.url + ": " +
                    describe(result.error(), options_.ca_cert));
  if (result->status < 200 || result->status > 299) throw_error(result->status, result->body);
  if (result->body.empty()) return nullptr;
  json answer = json::parse(result->body, nullptr, false);
  if (answer.is_discarded())
    throw UserError("the server at " + options_.url + " answered " + path +
                    " with a body that is not JSON; is that its REST address?");
  return answer;
}

void ServerClient::stream(const std::string& path, const std::string& accept,
                          std::chrono::milliseconds idle_timeout,
                          const std::function<void(std::string_view)>& on_bytes) const {
  const std::unique_ptr<httplib::Client> client = this->client(idle_timeout);
  int status = 0;
  std::string error_body;
  const httplib::Result result = client->Get(
      path, {{"Accept", accept}},
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (status >= 200 && status <= 299)
          on_bytes(std::string_view(data, size));
        else
          error_body.append(data, size);
        return true;
      });
  if (!result)
    throw UserError("cannot reach the agentfense server at " + options_.url + ": " +
                    describe(result.error(), options_.ca_cert));
  if (result->status < 200 || result->status > 299) throw_error(result->status, error_body);
}

}  // namespace agentfense::cli
