#include "cli/mcp/http_transport.h"

#include <httplib.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/mcp/body_budget.h"
#include "cli/mcp/http_connection.h"
#include "cli/mcp/message_limits.h"
#include "common/bearer_token.h"
#include "common/errors.h"
#include "common/random_hex.h"

namespace agentfense::cli::mcp {
namespace {

constexpr const char* kEndpoint = "/mcp";
constexpr std::size_t kMaxSessions = 64;
// What all request bodies being read or answered may hold together: five of the largest
// at once, far more than one owner's clients send.
constexpr std::size_t kBodyBudgetBytes = std::size_t{128} << 20;
// How often idle sessions are looked for (and how late a reaped one may go).
constexpr std::chrono::seconds kReapInterval{1};
// Connection threads beyond what the tool calls of a full session table can hold: what
// is left to read notifications/cancelled, DELETE and other clients' requests.
constexpr std::size_t kSpareThreads = 32;
// A connection thread with nothing to do this long ends (a burst of calls leaves none).
constexpr std::chrono::seconds kThreadIdle{10};

using Clock = std::chrono::steady_clock;

std::string new_session_id() {
  return random_hex(16);
}

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(serialize(body), "application/json");
}

// An HTTP-level refusal, with a JSON-RPC error body clients can show.
void refuse(httplib::Response& res, int status, int code, const std::string& why,
            const json& id = nullptr) {
  reply_json(res, status, make_error(id, code, why));
}

// A refusal sent before the request's body was read: the connection ends after it, so the
// unread body is never taken for the next request.
void refuse_unread(httplib::Response& res, int status, int code, const std::string& why) {
  res.set_header("Connection", "close");
  BoundedHttpServer::close_after_answer();
  refuse(res, status, code, why);
}

// The Content-Length of a request that has one and no Transfer-Encoding; nullopt
// otherwise (a body of unknown size cannot be charged before it is read).
std::optional<std::size_t> content_length(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding") || !req.has_header("Content-Length")) return std::nullopt;
  const std::string text = req.get_header_value("Content-Length");
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<std::size_t>(std::stoull(text));
}

// "http://localhost:3000" -> "localhost:3000"; "null" (opaque origins) is not loopback.
bool loopback_origin(const std::string& origin) {
  const auto scheme = origin.find("://");
  if (scheme == std::string::npos) return false;
  std::string host = origin.substr(scheme + 3);
  if (const auto slash = host.find('/'); slash != std::string::npos) host.erase(slash);
  return is_loopback_host(host, true);
}

// httplib answers each connection on one thread of its task queue, and a request holds
// that thread until its answer is sent: a tool call, for as long as its command runs. Its
// default pool is fixed (8 threads here), so 8 long calls left no thread to read the
// notifications/cancelled or DELETE that would stop them, nor any other client. This
// queue starts threads as connections need them, up to `max_threads`, which is chosen
// larger than every session's running calls together (each session runs at most
// McpSession::kMaxRunningCalls and refuses more at once), and lets idle ones end.
class GrowingPool final : public httplib::TaskQueue {
 public:
  explicit GrowingPool(std::size_t max_threads) : max_threads_(max_threads) {}
  GrowingPool(const GrowingPool&) = delete;
  GrowingPool& operator=(const GrowingPool&) = delete;
  ~GrowingPool() override { shutdown(); }

  void enqueue(std::function<void()> job) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
    reap();
    // Idle threads not yet claimed by a queued job take it; otherwise one more starts.
    // At the bound the job waits for the next thread to finish its connection.
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) start();
    cv_.notify_one();
  }

  // Runs what is queued, then joins every thread (httplib calls it when listen ends).
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    std::list<Worker> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (Worker& worker : threads) worker.thread.join();
  }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  // Called with mu_ held.
  void start() {
    Worker& worker = threads_.emplace_back();
    worker.thread = std::thread([this, &done = worker.done] { work(done); });
  }

  void work(std::atomic<bool>& done) {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      const bool woken =
          cv_.wait_for(lock, kThreadIdle, [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) {
        if (stopping_ || !woken) break;
        continue;
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    done = true;  // under mu_: reap() joins it only after it let go of the lock
  }

  // Joins threads that ended idle, so their stacks do not stay mapped. Called with mu_ held.
  void reap() {
    std::erase_if(threads_, [](Worker& worker) {
      if (!worker.done) return false;
      worker.thread.join();
      return true;
    });
  }

  const std::size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::list<Worker> threads_;  // list: a running thread's `done` must not move
  std::size_t idle_ = 0;       // threads waiting for a job
  bool stopping_ = false;
};

// The events of one tool call answered as an SSE stream: the call runs on its own
// thread and queues messages; httplib's content provider sends them as they come.
class SseCall {
 public:
  void push(const json& message) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back("event: message\ndata: " + serialize(message) + "\n\n");
    }
    cv_.notify_all();
  }
  void finish() {
    {
      std::lock_guard lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
  }
  // Writes what is queued; false when the client is gone. Sets `ended` after the last.
  bool pump(httplib::DataSink& sink, bool& ended) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(500),
                 [this] { return finished_ || !queue_.empty(); });
    std::deque<std::string> events;
    events.swap(queue_);
    const bool finished = finished_;
    lock.unlock();
    for (const std::string& event : events) {
      if (!sink.write(event.data(), event.size())) return false;
    }
    ended = finished;
    return sink.is_writable();
  }

  std::thread worker;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool finished_ = false;
};

// A session and when its client last used it. A client that goes away without DELETE
// (a killed IDE: the common case) would otherwise hold its slot and its shells for the
// server's whole life, and 64 of them locked every client out.
struct SessionSlot {
  std::shared_ptr<McpSession> session;
  Clock::time_point last_used;
  int in_flight = 0;  // requests being answered: a session is never ended under its call
};

// Ended sessions, taken out of the table under the lock: their calls are cancelled and
// their shells closed (the McpSession destructor) after it is released.
class EndedSessions {
 public:
  void add(std::shared_ptr<McpSession> session) { sessions_.push_back(std::move(session)); }
  ~EndedSessions() {
    for (const auto& session : sessions_) session->cancel_all();
  }

 private:
  std::vector<std::shared_ptr<McpSession>> sessions_;
};

class HttpServer {
 public:
  HttpServer(const SessionFactory& make_session, std::chrono::milliseconds session_idle,
             std::string token)
      : make_session_(make_session), session_idle_(session_idle), token_(std::move(token)) {
    server_.set_payload_max_length(kMaxHttpBodyBytes);
    server_.new_task_queue = [] {
      return new GrowingPool(kMaxSessions * McpSession::kMaxRunningCalls + kSpareThreads);
    };
    // Runs once the head is read, before any body is: a client without the token never
    // gets a byte of its body read, a session looked up or a tool run.
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return allowed(req, res) ? httplib::Server::HandlerResponse::Unhandled
                               : httplib::Server::HandlerResponse::Handled;
    });
    // POST and DELETE read their bodies themselves (content readers): httplib would read
    // a whole body into memory before the handler could refuse it.
    server_.Post(kEndpoint,
                 [this](const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& reader) { post(req, res, reader); });
    server_.Get(kEndpoint, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST, DELETE");
      refuse(res, 405, kInvalidRequest, "this server offers no stream on GET; POST messages");
    });
    server_.Delete(kEndpoint, [this](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader&) {
      const std::string declared = req.get_header_value("Content-Length");
      if (req.has_header("Transfer-Encoding") || !(declared.empty() || declared == "0"))
        return refuse_unread(res, 400, kInvalidRequest, "DELETE takes no body");
      std::shared_ptr<McpSession> ended;
      {
        std::lock_guard lock(mu_);
        const auto it = sessions_.find(req.get_header_value("Mcp-Session-Id"));
        if (it == sessions_.end()) return refuse(res, 404, kInvalidRequest, "no such session");
        ended = std::move(it->second.session);
        sessions_.erase(it);
      }
      ended->cancel_all();
      res.status = 200;
    });
  }

  httplib::Server& server() { return server_; }

  void cancel_everything() {
    std::lock_guard lock(mu_);
    for (auto& [id, slot] : sessions_) slot.session->cancel_all();
  }

  // Ends the sessions nobody has used for session_idle_ (none of their calls running).
  void reap_idle() {
    EndedSessions ended;
    std::lock_guard lock(mu_);
    take_idle(ended);
  }

 private:
  // Origin and Host: a web page cannot reach the endpoint (DNS rebinding); the token: nor
  // any local process but its owner's clients. Refusals end the connection unread.
  bool allowed(const httplib::Request& req, httplib::Response& res) const {
    if (req.has_header("Origin") && !loopback_origin(req.get_header_value("Origin"))) {
      refuse_unread(res, 403, kInvalidRequest, "requests from this origin are not allowed");
      return false;
    }
    if (!is_loopback_host(req.get_header_value("Host"), true)) {
      refuse_unread(res, 403, kInvalidRequest, "the Host header must name this loopback endpoint");
      return false;
    }
    const std::string presented = bearer_token(req.get_header_value("Authorization"));
    if (presented.empty() || !same_token(presented, token_)) {
      res.set_header("WWW-Authenticate", "Bearer");
      refuse_unread(res, 401, kInvalidRequest,
                    presented.empty() ? "authentication required: send 'Authorization: Bearer "
                                        "<token>' (the token agentfense mcp printed, wrote to "
                                        "--http-token-file or took from $AGENTFENSE_MCP_TOKEN)"
                                      : "the bearer token is not this endpoint's");
      return false;
    }
    return true;
  }

  // The request's body, charged to the budget before it is read; nullopt once `res`
  // holds the refusal.
  struct Body {
    std::string text;
    std::shared_ptr<BodyBudget::Share> share;
  };
  std::optional<Body> read_body(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
    const std::optional<std::size_t> length = content_length(req);
    if (!length) {
      refuse_unread(res, 411, kInvalidRequest,
                    "send the message with a Content-Length (not chunked)");
      return std::nullopt;
    }
    if (*length > kMaxHttpBodyBytes) {
      refuse_unread(res, 413, kInvalidRequest,
                    "the message is " + std::to_string(*length) + " bytes; at most " +
                        std::to_string(kMaxHttpBodyBytes) +
                        " are taken (write_file content up to 16 MiB, base64 included)");
      return std::nullopt;
    }
    Body body{.share = budget_.take(*length)};
    if (!body.share) {
      res.set_header("Retry-After", "1");
      refuse_unread(res, 503, kInternalError,
                    "the endpoint holds as many request bodies as it takes at once; retry "
                    "shortly");
      return std::nullopt;
    }
    body.text.reserve(*length);
    const bool complete = reader([&](const char* data, std::size_t size) {
      if (size > *length - body.text.size()) return false;
      body.text.append(data, size);
      return true;
    });
    if (!complete || body.text.size() != *length) {
      refuse_unread(res, 400, kInvalidRequest, "the request body ended early");
      return std::nullopt;
    }
    return body;
  }

  void post(const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& reader) {
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
      return refuse_unread(res, 415, kInvalidRequest, "Content-Type must be application/json");
    if (req.has_header("MCP-Protocol-Version") &&
        !supported_protocol_version(req.get_header_value("MCP-Protocol-Version")))
      return refuse_unread(
          res, 400, kInvalidRequest,
          "unsupported MCP-Protocol-Version: " + req.get_header_value("MCP-Protocol-Version"));
    std::optional<Body> body = read_body(req, res, reader);
    if (!body) return;
    Parsed parsed = parse_message(body->text);
    if (auto* error = std::get_if<json>(&parsed)) return reply_json(res, 400, *error);
    const Message message = std::move(std::get<Message>(parsed));

    std::shared_ptr<McpSession> session;
    const bool opening = message.kind == Message::Kind::kRequest && message.method == "initialize";
    std::string session_id = req.get_header_value("Mcp-Session-Id");
    std::shared_ptr<InFlight> using_session;
    if (opening) {
      if (!make_room())
        return refuse(res, 503, kInternalError,
                      "too many open sessions, each running a call; DELETE one", message.id);
      session = make_session_();
      session_id = new_session_id();
    } else {
      if (session_id.empty())
        return refuse(res, 400, kInvalidRequest, "Mcp-Session-Id header is required", message.id);
      using_session = enter(session_id);
      if (!using_session)
        return refuse(res, 404, kInvalidRequest, "no such session (initialize again)", message.id);
      session = using_session->session;
    }

    if (message.kind != Message::Kind::kRequest) {
      (void)session->handle(message, nullptr);
      res.status = 202;
      return;
    }
    const bool stream =
        McpSession::is_tool_call(message) &&
        req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
    if (stream)
      return stream_call(session, message, res, std::move(using_session), std::move(body->share));
    const std::optional<json> response = answer(*session, message, nullptr);
    if (opening && response && response->contains("result")) {
      std::lock_guard lock(mu_);
      sessions_[session_id] = {.session = session, .last_used = Clock::now()};
      res.set_header("Mcp-Session-Id", session_id);
    }
    if (!response) {  // cancelled while it ran: nothing to say
      res.status = 202;
      return;
    }
    reply_json(res, 200, *response);
  }

  static std::optional<json> answer(McpSession& session, const Message& message,
                                    const Notify& notify) {
    try {
      return session.handle(message, notify);
    } catch (const std::exception& error) {
      return make_error(message.id, kInternalError, std::string("internal error: ") + error.what());
    }
  }

  // A request being answered in a session: it counts as in use from enter() until this
  // is destroyed, and as used at that time.
  struct InFlight {
    InFlight(HttpServer& server, std::string id, std::shared_ptr<McpSession> session)
        : server(server), id(std::move(id)), session(std::move(session)) {}
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    ~InFlight() { release(); }
    // Once: the stream's releaser calls it when the call ends, copies of it aside.
    void release() {
      if (!released.exchange(true)) server.leave(id);
    }

    HttpServer& server;
    std::atomic<bool> released{false};
    const std::string id;
    const std::shared_ptr<McpSession> session;
  };

  std::shared_ptr<InFlight> enter(const std::string& id) {
    std::lock_guard lock(mu_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    ++it->second.in_flight;
    it->second.last_used = Clock::now();
    return std::make_shared<InFlight>(*this, id, it->second.session);
  }

  void leave(const std::string& id) {
    std::lock_guard lock(mu_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return;  // DELETEd meanwhile
    --it->second.in_flight;
    it->second.last_used = Clock::now();
  }

  // Moves the sessions idle past session_idle_ into `ended`. Called with mu_ held.
  void take_idle(EndedSessions& ended) {
    const Clock::time_point now = Clock::now();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.in_flight == 0 && now - it->second.last_used >= session_idle_) {
        ended.add(std::move(it->second.session));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Room for one more session: idle ones past the bound end; if the table is still full,
  // the least recently used session with no call running ends (its client, if still
  // there, gets 404 and initializes again, as MCP clients do). False when every session
  // is running a call.
  bool make_room() {
    EndedSessions ended;
    std::lock_guard lock(mu_);
    take_idle(ended);
    if (sessions_.size() < kMaxSessions) return true;
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.in_flight == 0 &&
          (oldest == sessions_.end() || it->second.last_used < oldest->second.last_used))
        oldest = it;
    }
    if (oldest == sessions_.end()) return false;
    ended.add(std::move(oldest->second.session));
    sessions_.erase(oldest);
    return true;
  }

  // `share`: the call's message stays charged to the body budget until the call ends.
  static void stream_call(const std::shared_ptr<McpSession>& session, const Message& message,
                          httplib::Response& res, std::shared_ptr<InFlight> using_session,
                          std::shared_ptr<BodyBudget::Share> share) {
    auto call = std::make_shared<SseCall>();
    call->worker = std::thread([session, message, call] {
      const auto response =
          answer(*session, message, [call](const json& note) { call->push(note); });
      if (response) call->push(*response);
      call->finish();
    });
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [call](std::size_t, httplib::DataSink& sink) {
          bool ended = false;
          if (!call->pump(sink, ended)) return false;
          if (ended) sink.done();
          return true;
        },
        [session, message, call, using_session, share](bool complete) {
          if (!complete) session->cancel(message.id);  // the client went away
          call->worker.join();
          if (using_session) using_session->release();  // the session may now go idle
        });
  }

  const SessionFactory& make_session_;
  const std::chrono::milliseconds session_idle_;
  const std::string token_;
  BodyBudget budget_{kBodyBudgetBytes};
  BoundedHttpServer server_;
  std::mutex mu_;
  std::map<std::string, SessionSlot> sessions_;
};

}  // namespace

int serve_http(const HttpAddress& address, const HttpToken& token,
               const SessionFactory& make_session, const StopSignals& signals,
               std::chrono::milliseconds session_idle) {
  HttpServer http(make_session, session_idle, token.value());
  httplib::Server& server = http.server();
  // httplib writes headers and body apart: with Nagle's algorithm each answer on a
  // kept-alive connection waited 40 ms for the client's delayed ACK.
  server.set_tcp_nodelay(true);
  int port = address.port;
  if (port == 0) {
    port = server.bind_to_any_port(address.host);
    if (port < 0) throw SystemError("listen on " + address.host, errno ? errno : EADDRNOTAVAIL);
  } else if (!server.bind_to_port(address.host, port)) {
    throw SystemError("listen on " + address.host + ":" + std::to_string(port),
                      errno ? errno : EADDRINUSE);
  }
  const bool v6 = address.host.find(':') != std::string::npos;
  std::fprintf(stderr, "agentfense: MCP endpoint at http://%s%s%s:%d%s (send %s)\n", v6 ? "[" : "",
               address.host.c_str(), v6 ? "]" : "", port, kEndpoint, token.header_hint().c_str());
  std::thread listener([&server] { server.listen_after_bind(); });
  int sig = 0;
  while (sig == 0) {
    pollfd stop = {.fd = signals.fd(), .events = POLLIN};
    const int ready = ::poll(&stop, 1, static_cast<int>(kReapInterval.count() * 1000));
    if (ready > 0) sig = signals.take();
    if (ready == 0) http.reap_idle();
  }
  http.cancel_everything();  // running commands are killed, so their threads end
  server.stop();
  listener.join();
  return sig;
}

}  // namespace agentfense::cli::mcp
