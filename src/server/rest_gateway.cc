#include "server/rest_gateway.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <limits>
#include <thread>

#include "common/errors.h"
#include "server/call_context.h"
#include "server/config/address_syntax.h"
#include "server/rest_connection.h"
#include "server/rest_connection_pool.h"
#include "server/rest_credentials.h"
#include "server/rest_router.h"
#include "server/rest_routes.h"
#include "server/transport_status.h"

namespace agentfense::server {

namespace {

// httplib runs pre-routing, the handler and the logger of one request on one thread, so
// the request's start time can wait there for the logger.
thread_local std::chrono::steady_clock::time_point request_started;

BodyReader FromContentReader(const httplib::ContentReader& reader) {
  return [&reader](const httplib::ContentReceiver& receiver) { return reader(receiver); };
}

// For requests httplib decided carry no body to stream (GET, DELETE without one): what
// it read, if anything, in one piece.
BodyReader FromBufferedBody(const httplib::Request& request) {
  return [&request](const httplib::ContentReceiver& receiver) {
    return request.body.empty() || receiver(request.body.data(), request.body.size());
  };
}

std::unique_ptr<httplib::Server> MakeServer(const std::shared_ptr<TlsCertificates>& tls) {
  if (!tls) return std::make_unique<PlainRestServer>(ConnectionTimeouts{});
  auto server = std::make_unique<TlsRestServer>(
      [tls](SSL_CTX& context) { return tls->configure(context); }, ConnectionTimeouts{});
  if (!server->is_valid())
    throw UserError("cannot set up TLS for REST with server.tls (OpenSSL refused the context)");
  return server;
}

// Decimal digits only, at most 2^62 (httplib reads the header with strtoull, which takes
// "-1" as 2^64 - 1).
bool IsByteCount(const std::string& text) {
  if (text.empty() || text.size() > 18) return false;
  return text.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

// Concurrent REST requests served, and accepted connections waiting for one of them
// (more wait in the kernel's listen queue; rest_connection_pool.h).
constexpr std::size_t kRestThreads = 128;
constexpr std::size_t kRestQueuedConnections = 512;

struct RestGateway::Impl {
  RestRouter router;
  // What one tenant's requests may hold of them at once (principal_share.h).
  PrincipalShare worker_share{kRestThreads, "REST requests", "the REST workers"};
  AccessLog access_log;
  std::shared_ptr<TlsCertificates> tls;  // kept alive as long as the server's context uses it
  std::unique_ptr<httplib::Server> server;
  httplib::Server& http;
  explicit Impl(std::shared_ptr<TlsCertificates> tls_in)
      : tls(std::move(tls_in)), server(MakeServer(tls)), http(*server) {}
  std::thread serve_thread;
  std::atomic<bool> serve_returned = false;         // listen_after_bind gave up (or was stopped)
  int listen_socket = -1;                           // set by the socket options callback at bind
  std::atomic<RestConnectionPool*> pool = nullptr;  // made by httplib at listen, freed by it
  // Cancelled when the gateway stops: every call that runs a command or follows a trail
  // watches it (RestCall::shutdown_fd) and is cancelled with it.
  CallContext shutdown;
};

RestGateway::RestGateway(CodebaseApi& codebases, SandboxApi& sandboxes, RestSecurity security)
    : impl_(std::make_unique<Impl>(std::move(security.tls))) {
  AddRestRoutes(impl_->router, codebases, sandboxes);
  impl_->router.set_gate(security.gate);
  impl_->router.set_worker_share(&impl_->worker_share);
  impl_->router.set_shutdown_fd(impl_->shutdown.cancel_fd());
  httplib::Server& http = impl_->http;
  const RestRouter& router = impl_->router;
  // httplib's default pool is max(8, cores - 1) threads, and a request holds its thread
  // for as long as its command runs: eight slow execs would stall every other REST call.
  // Threads are cheap next to what a sandbox command costs.
  http.new_task_queue = [impl = impl_.get()] {
    auto* pool = new RestConnectionPool(kRestThreads, kRestQueuedConnections);
    impl->pool = pool;
    return pool;
  };

  // Every route catches everything in every method; RestRouter decides 404/405. Methods
  // that may carry a body get a ContentReader so uploads stream instead of being
  // buffered by httplib.
  // "[\s\S]", not ".": a decoded path may hold a newline (a file name can), and "."
  // never matches one; such a request would get httplib's bare 404.
  const std::string kAnyPath = R"([\s\S]*)";
  auto with_reader = [&router](const httplib::Request& request, httplib::Response& response,
                               const httplib::ContentReader& reader) {
    router.Dispatch(request, response, FromContentReader(reader));
  };
  auto without_reader = [&router](const httplib::Request& request, httplib::Response& response) {
    router.Dispatch(request, response, FromBufferedBody(request));
  };
  http.Get(kAnyPath, without_reader);
  http.Options(kAnyPath, without_reader);
  http.Post(kAnyPath, httplib::Server::HandlerWithContentReader(with_reader));
  http.Post(kAnyPath, httplib::Server::Handler(without_reader));
  http.Put(kAnyPath, httplib::Server::HandlerWithContentReader(with_reader));
  http.Put(kAnyPath, httplib::Server::Handler(without_reader));
  http.Patch(kAnyPath, httplib::Server::HandlerWithContentReader(with_reader));
  http.Patch(kAnyPath, httplib::Server::Handler(without_reader));
  http.Delete(kAnyPath, httplib::Server::HandlerWithContentReader(with_reader));
  http.Delete(kAnyPath, httplib::Server::Handler(without_reader));

  // Errors httplib produces itself (malformed request, ...) get the same JSON body.
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& response) {
        // Ours (a body, or one sent as it is read: a timed-out exec's, SendHeld).
        if (!response.body.empty() || response.content_provider_)
          return httplib::Server::HandlerResponse::Unhandled;
        const StatusCode code = StatusFromHttp(response.status);
        const int status = response.status;
        SetErrorResponse(response, {code, "HTTP " + std::to_string(status), {}});
        response.status = status;
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
        SetErrorResponse(response, DescribeError(error, request.method + " " + request.path));
      });
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port
  // and silently share its traffic; SO_REUSEADDR alone still allows a quick restart.
  http.set_socket_options([impl = impl_.get()](socket_t sock) {
    const int yes = 1;
    check_syscall(setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)),
                  "setsockopt SO_REUSEADDR");
    impl->listen_socket = sock;  // only the listening socket gets these options
  });
  // Streaming routes accept any size; buffered ones enforce their own cap.
  http.set_payload_max_length(std::numeric_limits<size_t>::max());
  http.set_pre_routing_handler([&router, gate = security.gate,
                                browsers = std::move(security.browsers)](
                                   const httplib::Request& request, httplib::Response& response) {
    request_started = std::chrono::steady_clock::now();
    // First of all: nothing a web page sends is read further (rest_browser_guard.h).
    if (const std::optional<std::string> refusal = refusal_for_browser(
            browsers, request.get_header_value("Host"), request.get_header_value("Origin"),
            request.get_header_value("Sec-Fetch-Site"))) {
      SetErrorResponse(response,
                       {StatusCode::PERMISSION_DENIED, *refusal, kReasonPermissionDenied});
      return httplib::Server::HandlerResponse::Handled;
    }
    // A page of a listed origin may read the answers (CORS), and its browser's
    // preflight is answered here.
    if (const std::string origin = request.get_header_value("Origin"); !origin.empty()) {
      response.set_header("Access-Control-Allow-Origin", origin);
      response.set_header("Vary", "Origin");
      if (request.method == "OPTIONS" && request.has_header("Access-Control-Request-Method")) {
        response.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
        response.set_header("Access-Control-Allow-Headers", "authorization, content-type");
        response.set_header("Access-Control-Max-Age", "600");
        response.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    // Methods whose bodies httplib would buffer whole before any handler runs (a GET with
    // a body): an unauthenticated one is refused here, before anything is read. The
    // others stream their body to the handler, where Dispatch refuses them and reads at
    // most a little of it, so the refusal still reaches a client that is sending.
    const bool streams_body = request.method == "POST" || request.method == "PUT" ||
                              request.method == "PATCH" || request.method == "DELETE";
    if (gate != nullptr && !streams_body) {
      try {
        (void)gate->authenticate(PresentedBy(request));
      } catch (const ApiError&) {
        router.Dispatch(request, response, FromBufferedBody(request));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    // A Content-Length that is not a byte count (-1, 2^63) was read as a huge one, and
    // the request waited for a body that never comes: refused at once, and the
    // connection closed (its framing cannot be trusted).
    if (request.has_header("Content-Length") &&
        !IsByteCount(request.get_header_value("Content-Length"))) {
      close_connection_after_request();
      SetErrorResponse(response, {StatusCode::INVALID_ARGUMENT,
                                  "Content-Length '" +
                                      escape_user_text(request.get_header_value("Content-Length")) +
                                      "' is not a byte count",
                                  kReasonInvalidRequest});
      return httplib::Server::HandlerResponse::Handled;
    }
    // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112
    // 6.3), but httplib 0.11 would wait for one until the connection closes - which is
    // what `curl -X POST .../start` sends. Route it here, before httplib reads.
    const bool may_have_body =
        request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
    if (may_have_body && !request.has_header("Content-Length") &&
        !request.has_header("Transfer-Encoding")) {
      router.Dispatch(request, response, FromBufferedBody(request));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger(
      [impl = impl_.get()](const httplib::Request& request, const httplib::Response& response) {
        if (!impl->access_log) return;
        const auto elapsed = request_started == std::chrono::steady_clock::time_point{}
                                 ? std::chrono::microseconds(0)
                                 : std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - request_started);
        request_started = {};
        impl->access_log(request.method, request.path, response.status, elapsed);
      });
}

RestGateway::~RestGateway() {
  stop();
}

void RestGateway::set_access_log(AccessLog log) {
  impl_->access_log = std::move(log);
}

int RestGateway::listen(const std::string& address) {
  if (impl_->serve_thread.joinable()) throw UserError("REST gateway is already listening");
  const ListenAddress where = parse_listen_address(address);
  httplib::Server& http = impl_->http;
  int port = where.port;
  if (port == 0) {
    port = http.bind_to_any_port(where.host);
  } else if (!http.bind_to_port(where.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    throw UserError("cannot listen for REST on '" + address +
                    "' (address in use or not local to this host)");
  }
  // Debian's httplib is compiled with a listen backlog of 5: twenty clients connecting at
  // once (an agent platform fanning out commands) overflow it and some see their
  // connection dropped or reset. Listening again on a listening socket only changes its
  // backlog.
  check_syscall(::listen(impl_->listen_socket, SOMAXCONN), "listen (REST backlog)");
  impl_->serve_returned = false;
  impl_->serve_thread = std::thread([impl = impl_.get()] {
    impl->http.listen_after_bind();
    impl->serve_returned = true;
  });
  // stop() is a no-op until the accept loop runs; wait for it so an immediate stop()
  // cannot leave the loop running forever.
  while (!http.is_running() && !impl_->serve_returned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return port;
}

void RestGateway::stop() {
  if (!impl_->serve_thread.joinable()) return;
  // Calls in flight that could run for as long as their client stays (a follow, an exec
  // of up to runtime.max_timeout) end as if their client had gone, so the join below
  // waits for seconds, not hours.
  impl_->shutdown.cancel();
  // First, while the pool surely lives (httplib frees it when its accept loop returns,
  // which stop() below lets happen): an accept loop waiting for room must see the stop.
  if (RestConnectionPool* pool = impl_->pool) pool->stopping();
  impl_->http.stop();
  impl_->serve_thread.join();
  impl_->pool = nullptr;
}

}  // namespace agentfense::server
