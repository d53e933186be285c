#include "runtime/docker/engine_client.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "common/errors.h"
#include "runtime/docker/engine_errors.h"

namespace agentfense::runtime::docker {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kApiPrefix = "/v1.41";
constexpr milliseconds kConnectTimeout{5000};
constexpr std::size_t kMaxResponseHeader = 64 << 10;
constexpr std::size_t kMaxErrorBody = 64 << 10;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK)
      throw SystemError("curl_global_init", ENOMEM);
  });
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

using Easy = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

template <typename T>
void set(CURL* curl, CURLoption option, T value) {
  if (curl_easy_setopt(curl, option, value) != CURLE_OK)
    throw SystemError("curl_easy_setopt " + std::to_string(option), EINVAL);
}

// Why connecting to `path` fails, in the kernel's words ("No such file or directory",
// "Connection refused"); empty when a connection can be made.
std::string connect_error(const std::string& path) {
  sockaddr_un address{.sun_family = AF_UNIX, .sun_path = {}};
  if (path.size() >= sizeof address.sun_path) return "socket path too long";
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return std::strerror(errno);
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return "";
  return errno == EAGAIN ? "" : std::strerror(errno);  // EAGAIN: a full backlog, but alive
}

int remaining_ms(steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
  return static_cast<int>(std::max<milliseconds::rep>(left.count(), 0));
}

// Waits for `events` on `fd` until the deadline; false when it passed.
bool wait_for(int fd, short events, steady_clock::time_point deadline) {
  for (;;) {
    pollfd probe{.fd = fd, .events = events, .revents = 0};
    const int ready = ::poll(&probe, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) throw SystemError("poll docker socket", errno);
  }
}

// "HTTP/1.1 101 UPGRADED" -> 101; 0 when malformed.
long status_of(const std::string& head) {
  const auto space = head.find(' ');
  if (space == std::string::npos) return 0;
  return std::strtol(head.c_str() + space + 1, nullptr, 10);
}

std::size_t content_length(const std::string& head) {
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  return std::strtoul(lower.c_str() + at + 17, nullptr, 10);
}

}  // namespace

std::string EngineResponse::message() const {
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string())
    return parsed["message"].get<std::string>();
  std::string text = body;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "HTTP status " + std::to_string(status) : text;
}

EngineClient::EngineClient(std::string host) : host_(std::move(host)) {
  constexpr std::string_view kScheme = "unix://";
  if (!host_.starts_with(kScheme) || host_.size() <= kScheme.size() || host_[kScheme.size()] != '/')
    throw UserError("docker host '" + host_ + "' must be unix:///path/to/docker.sock");
  socket_path_ = host_.substr(kScheme.size());
  global_init();
}

void EngineClient::throw_unavailable(const std::string& detail) const {
  throw DockerUnavailable("dockerd is not reachable at " + host_ + ": " + detail);
}

EngineResponse EngineClient::call(const std::string& method, const std::string& path,
                                  const nlohmann::json* body, milliseconds timeout) const {
  Easy curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw SystemError("curl_easy_init", ENOMEM);
  const std::string url = std::string("http://docker") + kApiPrefix + path;
  const std::string payload = body ? body->dump() : "";
  HeaderList headers(nullptr, &curl_slist_free_all);
  EngineResponse response;
  char error[CURL_ERROR_SIZE] = {};
  set(curl.get(), CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  set(curl.get(), CURLOPT_URL, url.c_str());
  set(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  // Many threads call concurrently: no signals for timeouts, no shared state.
  set(curl.get(), CURLOPT_NOSIGNAL, 1L);
  set(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  set(curl.get(), CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(std::min(timeout, kConnectTimeout).count()));
  set(curl.get(), CURLOPT_WRITEFUNCTION, &append_body);
  set(curl.get(), CURLOPT_WRITEDATA, &response.body);
  set(curl.get(), CURLOPT_ERRORBUFFER, error);
  if (method == "POST" || body) {
    // curl_slist_append returns a new head, or null (then the old list is still ours).
    for (const char* line : {"Content-Type: application/json", "Expect:"}) {
      curl_slist* extended = curl_slist_append(headers.get(), line);
      if (!extended) throw SystemError("curl_slist_append", ENOMEM);
      (void)headers.release();
      headers.reset(extended);
    }
    set(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    set(curl.get(), CURLOPT_POSTFIELDS, payload.c_str());
    set(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  }
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc == CURLE_OPERATION_TIMEDOUT)
    throw_unavailable("no answer to " + method + " " + path + " within " +
                      std::to_string(timeout.count() / 1000.0).substr(0, 4) + "s");
  if (rc != CURLE_OK) {
    const std::string why = connect_error(socket_path_);
    throw_unavailable(why.empty() ? std::string(error[0] ? error : curl_easy_strerror(rc)) : why);
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

nlohmann::json EngineClient::checked(const std::string& method, const std::string& path,
                                     const std::string& what, const nlohmann::json* body,
                                     milliseconds timeout) const {
  const EngineResponse response = call(method, path, body, timeout);
  if (response.status >= 400) throw EngineError(response.status, what + ": " + response.message());
  if (response.body.empty()) return nullptr;
  nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_discarded())
    throw EngineError(response.status, what + ": dockerd answered something that is not JSON");
  return parsed;
}

HijackedStream EngineClient::hijack(const std::string& path, const nlohmann::json& body,
                                    milliseconds timeout) const {
  const auto deadline = steady_clock::now() + timeout;
  sockaddr_un address{.sun_family = AF_UNIX, .sun_path = {}};
  if (socket_path_.size() >= sizeof address.sun_path) throw_unavailable("socket path too long");
  std::memcpy(address.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) throw SystemError("socket", errno);
  if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw_unavailable(std::strerror(errno));

  const std::string payload = body.dump();
  const std::string request = "POST " + std::string(kApiPrefix) + path +
                              " HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                              "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: " +
                              std::to_string(payload.size()) + "\r\n\r\n" + payload;
  // A few hundred bytes into an empty unix socket buffer: never blocks for long.
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n =
        ::send(socket.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_unavailable(std::string("sending the request: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }

  std::string received;
  std::size_t header_end = std::string::npos;
  while ((header_end = received.find("\r\n\r\n")) == std::string::npos) {
    if (received.size() > kMaxResponseHeader)
      throw EngineError(0, "POST " + path + ": response header too large");
    if (!wait_for(socket.get(), POLLIN, deadline))
      throw_unavailable("no answer to POST " + path + " within " +
                        std::to_string(timeout.count() / 1000) + "s");
    char chunk[4096];
    const ssize_t n = ::recv(socket.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_unavailable("connection closed while waiting for the answer to POST " + path);
    received.append(chunk, static_cast<std::size_t>(n));
  }
  const std::string head = received.substr(0, header_end);
  std::string rest = received.substr(header_end + 4);
  const long status = status_of(head);
  if (status == 101 || status == 200) return {std::move(socket), std::move(rest)};

  // An error: the body says why (bounded, and only as long as dockerd sends it in time).
  const std::size_t length = std::min(content_length(head), kMaxErrorBody);
  while (rest.size() < length && wait_for(socket.get(), POLLIN, deadline)) {
    char chunk[4096];
    const ssize_t n = ::recv(socket.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    rest.append(chunk, static_cast<std::size_t>(n));
  }
  throw EngineError(status, EngineResponse{status, rest}.message());
}

}  // namespace agentfense::runtime::docker
