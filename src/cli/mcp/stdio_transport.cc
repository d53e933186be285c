#include "cli/mcp/stdio_transport.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include "common/errors.h"

namespace agentfense::cli::mcp {
namespace {

// A message larger than this (write_file content included) is refused as a parse
// error rather than grown into memory without bound.
constexpr std::size_t kMaxLineBytes = 64u << 20;
// After end of input, how long calls still running may go on to answer (a client may
// close its end after sending its last request) before they are cancelled. Short: a
// crashed client must not leave the agent's commands running up to --max-timeout.
constexpr std::chrono::seconds kEofGrace{5};

class LineWriter {
 public:
  explicit LineWriter(int fd) : fd_(fd) {}

  // Whole lines only, one writer at a time: messages never interleave.
  void send(const json& message) {
    std::string line = serialize(message);
    line += '\n';
    std::lock_guard lock(mu_);
    for (std::size_t done = 0; done < line.size() && !broken_;) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        broken_ = true;  // the client is gone (EPIPE): nothing more can reach it
        return;
      }
      done += static_cast<std::size_t>(n);
    }
  }

  // False once an answer can no longer reach the client: a write failed, or the reading
  // end is closed (POLLERR on a pipe, POLLHUP on a socket or terminal).
  bool reachable() {
    {
      std::lock_guard lock(mu_);
      if (broken_) return false;
    }
    pollfd out = {.fd = fd_, .events = 0};
    return !(::poll(&out, 1, 0) == 1 && (out.revents & (POLLERR | POLLHUP | POLLNVAL)));
  }

 private:
  const int fd_;
  std::mutex mu_;
  bool broken_ = false;
};

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

// The threads of running tool calls. A finished one is joined at the next spawn (or
// wait), not at exit: an exited thread keeps its stack mapped until joined, and an agent
// sending cheap calls for long enough would run the process out of mappings.
class Workers {
 public:
  ~Workers() {
    for (Worker& worker : workers_) worker.thread.join();
  }

  void spawn(std::function<void()> work) {
    reap();
    Worker& worker = workers_.emplace_back();
    worker.thread = std::thread([&done = worker.done, work = std::move(work)] {
      work();
      done = true;  // last: the thread touches nothing of ours after this
    });
  }
  bool busy() {
    reap();
    return !workers_.empty();
  }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void reap() {
    std::erase_if(workers_, [](Worker& worker) {
      if (!worker.done) return false;
      worker.thread.join();
      return true;
    });
  }

  std::list<Worker> workers_;  // list: a running thread's `done` must not move
};

class StdioServer {
 public:
  StdioServer(McpSession& session, int out_fd) : session_(session), out_(out_fd) {}

  ~StdioServer() { session_.cancel_all(); }  // then workers_ joins them

  void dispatch(const std::string& line) {
    Parsed parsed = parse_message(line);
    if (auto* error = std::get_if<json>(&parsed)) return out_.send(*error);
    const Message message = std::move(std::get<Message>(parsed));
    if (!McpSession::is_tool_call(message)) return answer(message);
    // Admitted here, in message order, so that an id already in flight or a call over
    // the limit is refused at once; only an admitted call gets a thread.
    std::shared_ptr<AdmittedCall> call;
    try {
      auto admitted = session_.admit(message);
      if (auto* refused = std::get_if<json>(&admitted)) return out_.send(*refused);
      call = std::move(std::get<std::unique_ptr<AdmittedCall>>(admitted));
    } catch (const std::exception& error) {
      return out_.send(internal_error(message, error));
    }
    workers_.spawn([this, message, call = std::move(call)]() mutable {
      std::optional<json> response;
      try {
        response = session_.run(*call, [this](const json& note) { out_.send(note); });
      } catch (const std::exception& error) {
        response = internal_error(message, error);
      }
      call.reset();  // its id is free again before the client can read the answer
      if (response) out_.send(*response);
    });
  }

  void send(const json& message) { out_.send(message); }
  bool busy() { return workers_.busy(); }
  bool reachable() { return out_.reachable(); }
  void cancel_all() { session_.cancel_all(); }  // their commands are killed, unanswered

 private:
  static json internal_error(const Message& message, const std::exception& error) {
    return make_error(message.id, kInternalError, std::string("internal error: ") + error.what());
  }

  void answer(const Message& message) {
    std::optional<json> response;
    try {
      response = session_.handle(message, [this](const json& note) { out_.send(note); });
    } catch (const std::exception& error) {
      response = internal_error(message, error);
    }
    if (response) out_.send(*response);
  }

  McpSession& session_;
  LineWriter out_;
  Workers workers_;  // last: joined before the writer goes
};

}  // namespace

int serve_stdio(McpSession& session, int in_fd, int out_fd, const StopSignals& signals) {
  StdioServer server(session, out_fd);
  std::string buffer;
  bool skipping = false;  // inside an over-long line: drop it up to its newline
  char chunk[65536];
  for (;;) {
    pollfd fds[2] = {{.fd = in_fd, .events = POLLIN}, {.fd = signals.fd(), .events = POLLIN}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw SystemError("poll", errno);
    }
    if (fds[1].revents & POLLIN) {
      if (const int sig = signals.take()) return sig;
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const ssize_t n = ::read(in_fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // end of input (or a read error: the client is gone either way)
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t newline; (newline = buffer.find('\n')) != std::string::npos;) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (skipping) {
        skipping = false;
        continue;
      }
      if (!blank(line)) server.dispatch(line);
    }
    if (buffer.size() > kMaxLineBytes) {
      if (!skipping)
        server.send(make_error(nullptr, kParseError, "parse error: message longer than 64 MiB"));
      skipping = true;
      buffer.clear();
    }
  }
  if (!blank(buffer) && !skipping) server.dispatch(buffer);  // a last line without newline
  // End of input: calls already running may finish and answer for kEofGrace while the
  // answers can still be written; then, or at once when stdout is gone, the rest are
  // cancelled. A stop signal ends the wait at once.
  const auto deadline = std::chrono::steady_clock::now() + kEofGrace;
  bool cancelled = false;
  while (server.busy()) {
    if (!cancelled && (std::chrono::steady_clock::now() >= deadline || !server.reachable())) {
      server.cancel_all();
      cancelled = true;
    }
    pollfd stop = {.fd = signals.fd(), .events = POLLIN};
    if (::poll(&stop, 1, 100) > 0) {
      if (const int sig = signals.take()) return sig;
    }
  }
  return 0;
}

}  // namespace agentfense::cli::mcp
