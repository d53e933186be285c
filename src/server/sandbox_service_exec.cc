// Exec, ExecStream and shell sessions.
#include <algorithm>
#include <functional>
#include <string_view>

#include "common/errors.h"
#include "common/log.h"
#include "common/text_safety.h"
#include "server/exec_result_tail.h"
#include "server/principal_share.h"
#include "server/proto_time.h"
#include "server/request_limits.h"
#include "server/sandbox_service.h"
#include "store/ids.h"

namespace agentfense::server {
namespace {

using OnOutput = std::function<void(runtime::Stream, std::string_view)>;

// The exec / session_exec audit event: what ran, where, and how it ended.
nlohmann::ordered_json exec_details(const std::string& command, const std::string& workdir,
                                    const LiveSandbox::ExecOutcome& outcome) {
  const runtime::ExecResult& r = outcome.result;
  nlohmann::ordered_json details = {
      {"cmd", outcome.command_id},
      {"command", command},
      {"workdir", workdir.empty() ? std::string("/workspace") : workdir},
      {"exit_code", r.exit_code},
      {"duration_ms", std::chrono::duration<double, std::milli>(r.duration).count()},
      {"timed_out", r.timed_out},
      {"cancelled", r.cancelled},
      {"oom_killed", r.oom_killed},
      {"pids_limit_reached", r.pids_limit_reached},
      {"stdout_truncated", r.stdout_truncated},
      {"stderr_truncated", r.stderr_truncated}};
  add_sync_paths(details, outcome.commit);
  return details;
}

// The part of a refused command the trail keeps: enough to recognise it, bounded so a
// request refused for its size does not grow the trail by as much.
constexpr std::size_t kRefusedCommandBytes = 1024;

// What the text rendering of output that is not UTF-8 keeps (its beginning): each bad
// byte renders as 3, so 16 MiB of them (runtime.output_limit) rendered 48 MiB beside the
// 16 MiB of exact bytes, and a result no longer fit one 64 MiB gRPC message: the caller
// got RESOURCE_EXHAUSTED instead of the result of a command that had run and committed.
// Both streams at most: 2 x (16 MiB bytes + 15 MiB text) and the rest of the result.
constexpr std::size_t kMaxRenderedBytes = std::size_t{15} << 20;

// proto3 strings must be UTF-8 (ExecResult.stdout_bytes): text for the string field,
// and the exact bytes beside it when they differ (the text then cut to `max_text`).
void put_output(const std::string& raw, bool valid, std::size_t max_text, std::string* text,
                std::string* bytes) {
  if (valid) {
    *text = raw;
    return;
  }
  *text = with_utf8_replacements(raw, max_text);
  *bytes = raw;
}

// `text_room(n)`: how much text each of `n` streams that are not UTF-8 may render (a
// unary exec's output budget: UnaryOutput::text_room); none: kMaxRenderedBytes.
v1::ExecResult to_wire(const runtime::ExecResult& result,
                       const std::function<std::size_t(int)>& text_room = {}) {
  const bool stdout_valid = is_valid_utf8(result.stdout_data);
  const bool stderr_valid = is_valid_utf8(result.stderr_data);
  const int invalid = int{!stdout_valid} + int{!stderr_valid};
  const std::size_t max_text = invalid > 0 && text_room ? text_room(invalid) : kMaxRenderedBytes;
  v1::ExecResult out;
  put_output(result.stdout_data, stdout_valid, max_text, out.mutable_stdout(),
             out.mutable_stdout_bytes());
  put_output(result.stderr_data, stderr_valid, max_text, out.mutable_stderr(),
             out.mutable_stderr_bytes());
  out.set_exit_code(result.exit_code);
  *out.mutable_duration() = to_duration(result.duration);
  out.set_stdout_truncated(result.stdout_truncated);
  out.set_stderr_truncated(result.stderr_truncated);
  out.set_oom_killed(result.oom_killed);
  out.set_pids_limit_reached(result.pids_limit_reached);
  return out;
}

// What it printed before the kill travels with the error (CommandTimeoutError).
constexpr std::size_t kTimedOutTailBytes = std::size_t{1} << 20;

// Cuts `result`'s output to what the error carries, in place (the raw buffers go).
void throw_if_timed_out(runtime::ExecResult& result, std::chrono::milliseconds timeout,
                        const std::string& what) {
  if (!result.timed_out) return;
  // The error carries the last MiB of each stream (exec_result_tail.h): the whole output
  // copied into it, then rendered, was what made a timed-out REST exec cost ~200 MB.
  result.stdout_data = OutputTail(result.stdout_data, kTimedOutTailBytes, result.stdout_truncated);
  result.stderr_data = OutputTail(result.stderr_data, kTimedOutTailBytes, result.stderr_truncated);
  throw CommandTimeoutError(what + " timed out after " + describe_seconds(timeout) +
                                " and was killed (with every process it started)",
                            to_wire(result));
}

// A unary exec's text room (its output budget), or none for a stream.
std::function<std::size_t(int)> text_room_of(UnaryOutput* unary) {
  if (!unary) return {};
  return [unary](int streams) { return unary->text_room(streams, kMaxRenderedBytes); };
}

// The command ran until its caller went away and was killed then.
[[noreturn]] void throw_cancelled_by_caller(const std::string& what, const std::string& where) {
  log::info("exec.cancelled_by_caller", {{"target", where}});
  throw ApiError(StatusCode::CANCELLED,
                 "the client went away (call cancelled, deadline passed or connection closed); " +
                     what + " was killed with every process it started",
                 kReasonCallCancelled);
}

// When a command whose output waits for room in the output budget (unary_output.h) stops
// waiting: its time is up, its caller went away or its sandbox stops; the runtime then
// ends it as it would have anyway.
std::function<bool()> stop_waiting_when(const CallContext& call, const LiveSandbox& live,
                                        LiveSandbox::Clock::time_point deadline) {
  return [&call, &live, deadline] {
    return LiveSandbox::Clock::now() >= deadline || call.cancelled() || live.stopping();
  };
}

// Streams output as ExecOutput messages; once the client is gone (a write fails), the
// call is cancelled, which kills the command.
class StreamEmitter {
 public:
  StreamEmitter(const Emit<v1::ExecOutput>& emit, CallContext& call) : emit_(emit), call_(call) {}
  OnOutput callback() {
    return [this](runtime::Stream stream, std::string_view data) {
      v1::ExecOutput chunk;
      chunk.set_type(stream == runtime::Stream::kStdout ? v1::ExecOutput::OUTPUT_TYPE_STDOUT
                                                        : v1::ExecOutput::OUTPUT_TYPE_STDERR);
      chunk.set_data(std::string(data));
      send(chunk);
    };
  }
  void finish(const v1::ExecResult& result) {
    v1::ExecOutput last;
    last.set_type(v1::ExecOutput::OUTPUT_TYPE_EXIT);
    last.set_exit_code(result.exit_code());
    *last.mutable_duration() = result.duration();
    last.set_stdout_truncated(result.stdout_truncated());
    last.set_stderr_truncated(result.stderr_truncated());
    last.set_oom_killed(result.oom_killed());
    last.set_pids_limit_reached(result.pids_limit_reached());
    send(last);
  }

 private:
  void send(const v1::ExecOutput& message) {
    if (!connected_) return;
    connected_ = emit_(message);
    if (!connected_) call_.cancel();
  }
  const Emit<v1::ExecOutput>& emit_;
  CallContext& call_;
  bool connected_ = true;
};

}  // namespace

std::chrono::milliseconds SandboxService::exec_timeout(const google::protobuf::Duration& requested,
                                                       bool has_timeout) const {
  if (!has_timeout) return options_.default_timeout;
  if (requested.seconds() < 0 || requested.nanos() < 0)
    throw ApiError(StatusCode::INVALID_ARGUMENT, "timeout must not be negative");
  if (requested.seconds() == 0 && requested.nanos() == 0) return options_.default_timeout;
  // A timeout under a millisecond is the shortest there is, not "none given".
  const auto timeout = std::max(to_millis(requested), std::chrono::milliseconds(1));
  if (timeout > options_.max_timeout)
    throw ApiError(StatusCode::INVALID_ARGUMENT, "timeout " + describe_seconds(timeout) +
                                                     " exceeds runtime.max_timeout (" +
                                                     describe_seconds(options_.max_timeout) + ")");
  return timeout;
}

void SandboxService::audited_checks(const std::string& sandbox_id, const char* op,
                                    std::string_view command,
                                    const std::function<void()>& checks) const {
  try {
    checks();
  } catch (const ApiError& error) {
    // Only an existing sandbox has a trail; a refusal naming none is the caller's typo.
    if (sandboxes_.get(sandbox_id))
      audit(sandbox_id, op,
            {{"command", std::string(command.substr(0, kRefusedCommandBytes))},
             {"command_bytes", command.size()},
             {"error", error.what()}},
            false);
    throw;
  }
}

v1::ExecResult SandboxService::run_exec(const v1::ExecRequest& request, CallContext& call,
                                        const OnOutput& on_output, UnaryOutput* unary) {
  const auto arrived = LiveSandbox::Clock::now();  // the timeout runs from here
  const std::string& id = request.sandbox_id();
  const std::map<std::string, std::string> env(request.env().begin(), request.env().end());
  std::chrono::milliseconds timeout{};
  audited_checks(id, "exec_refused", request.command(), [&] {
    check_command(request.command());
    check_env(env);
    check_workdir(request.workdir());
    check_stdin(request.stdin());
    timeout = exec_timeout(request.timeout(), request.has_timeout());
    // A unary result is held whole until sent: none started while they fill the budget.
    if (unary) unary->check_room(caller_holder(), id);
  });
  const std::shared_ptr<LiveSandbox> live = running(id);
  runtime::ExecSpec spec;
  spec.argv = {"/bin/sh", "-c", request.command()};
  spec.env = env;
  if (!request.workdir().empty()) spec.workdir = request.workdir();
  if (!request.stdin().empty()) spec.stdin_data = request.stdin();
  spec.timeout = timeout;
  spec.on_output =
      unary ? unary->capture(stop_waiting_when(call, *live, arrived + timeout)) : on_output;
  // A spec the runtime refuses (bad env, workdir, timeout) throws UserError: INVALID_ARGUMENT.
  // A call that fails from here on (the fs process stopped answering before the command,
  // or the sync after it) is still in the trail: before, an agent whose command wrote
  // enough files for the sync to outlast the wait had no exec event at all.
  LiveSandbox::ExecOutcome outcome;
  audited_checks(id, "exec_failed", request.command(), [&] {
    outcome = live->exec(std::move(spec), call.cancel_fd(), arrived + timeout, [unary] {
      if (unary) unary->captured();
    });
  });
  if (unary) unary->fill(outcome.result);
  after_commit(live->codebase_id(), id, outcome.commit);
  log::info("sandbox.exec",
            {{"sandbox_id", id},
             {"exit_code", outcome.result.exit_code},
             {"timed_out", outcome.result.timed_out},
             {"ms", std::chrono::duration<double, std::milli>(outcome.result.duration).count()},
             {"committed", outcome.commit.applied_size() + outcome.commit.applied_omitted()}});
  audit(id, "exec", exec_details(request.command(), request.workdir(), outcome));
  if (outcome.result.cancelled && call.cancelled()) throw_cancelled_by_caller("the command", id);
  if (outcome.result.cancelled)
    throw ApiError(StatusCode::ABORTED,
                   "sandbox " + id + " was stopped while the command was running; it was killed",
                   kReasonSandboxNotRunning);
  throw_if_timed_out(outcome.result, timeout, "command");
  return to_wire(outcome.result, text_room_of(unary));
}

v1::ExecResult SandboxService::Exec(const v1::ExecRequest& request, CallContext& call) {
  UnaryOutput output(output_budget_, "exec");
  return output.charged([&] { return run_exec(request, call, nullptr, &output); }, call);
}

void SandboxService::ExecStream(const v1::ExecRequest& request, CallContext& call,
                                const Emit<v1::ExecOutput>& emit) {
  StreamEmitter emitter(emit, call);
  emitter.finish(run_exec(request, call, emitter.callback()));
}

v1::Session SandboxService::load_session(const std::string& id) const {
  if (id.empty()) throw ApiError(StatusCode::INVALID_ARGUMENT, "session_id is required");
  auto session = sessions_.get(id);
  if (!session)
    throw ApiError(StatusCode::NOT_FOUND, "session " + escape_user_text(id) + " not found",
                   kReasonSessionNotFound);
  return *session;
}

v1::Session SandboxService::CreateSession(const v1::CreateSessionRequest& request) {
  std::string shell;
  const std::map<std::string, std::string> env(request.env().begin(), request.env().end());
  audited_checks(request.sandbox_id(), "session_refused", request.shell(), [&] {
    shell = checked_session_shell(request.shell());
    check_env(env);
  });
  const std::shared_ptr<LiveSandbox> live = running(request.sandbox_id());
  v1::Session session;
  session.set_id(store::new_id("ses_"));
  session.set_sandbox_id(request.sandbox_id());
  session.set_shell(shell);
  // A session the runtime refuses (no bash in the image, ...) throws UserError:
  // INVALID_ARGUMENT.
  spawner_.run([&] { live->open_session(session.id(), shell, env); });
  session.set_status(v1::SESSION_STATUS_ACTIVE);
  *session.mutable_created_at() = now_timestamp();
  sessions_.put(session);
  log::info("session.created",
            {{"session_id", session.id()}, {"sandbox_id", session.sandbox_id()}});
  return session;
}

v1::Session SandboxService::GetSession(const v1::GetSessionRequest& request) {
  return load_session(request.session_id());
}

v1::ListSessionsResponse SandboxService::ListSessions(const v1::ListSessionsRequest& request) {
  (void)load(request.sandbox_id());  // NOT_FOUND for an unknown sandbox
  v1::ListSessionsResponse out;
  for (v1::Session& session : sessions_.list_for_sandbox(request.sandbox_id()))
    *out.add_sessions() = std::move(session);
  hold_read_answer(out, "ListSessions", caller_holder());
  return out;
}

void SandboxService::DestroySession(const v1::DestroySessionRequest& request) {
  v1::Session session = load_session(request.session_id());
  // Closed outside every lock: ending a shell may take a moment.
  if (const auto live = find_live(session.sandbox_id())) live->close_session(session.id());
  if (session.status() == v1::SESSION_STATUS_ACTIVE) {
    session.set_status(v1::SESSION_STATUS_CLOSED);
    *session.mutable_closed_at() = now_timestamp();
    sessions_.put(session);
  }
  log::info("session.destroyed", {{"session_id", session.id()}});
}

v1::ExecResult SandboxService::run_session_exec(const v1::SessionExecRequest& request,
                                                CallContext& call, const OnOutput& on_output,
                                                UnaryOutput* unary) {
  const auto arrived = LiveSandbox::Clock::now();  // the timeout runs from here
  v1::Session session = load_session(request.session_id());
  if (session.status() != v1::SESSION_STATUS_ACTIVE)
    throw ApiError(StatusCode::FAILED_PRECONDITION, "session " + session.id() + " is closed",
                   kReasonSessionClosed);
  std::chrono::milliseconds timeout{};
  audited_checks(session.sandbox_id(), "session_exec_refused", request.command(), [&] {
    check_command(request.command());
    timeout = exec_timeout(request.timeout(), request.has_timeout());
    if (unary) unary->check_room(caller_holder(), session.sandbox_id());
  });
  const std::shared_ptr<LiveSandbox> live = running(session.sandbox_id());
  LiveSandbox::ExecOutcome outcome;  // a failure is in the trail too, as for run_exec
  audited_checks(session.sandbox_id(), "session_exec_failed", request.command(), [&] {
    const auto deadline = arrived + timeout;
    outcome = live->session_exec(
        session.id(), request.command(),
        unary ? unary->capture(stop_waiting_when(call, *live, deadline)) : on_output,
        call.cancel_fd(), deadline, [unary] {
          if (unary) unary->captured();
        });
  });
  if (unary) unary->fill(outcome.result);
  if (!live->session_alive(session.id())) {  // the command ended the shell (`exit`)
    live->close_session(session.id());
    session.set_status(v1::SESSION_STATUS_CLOSED);
    *session.mutable_closed_at() = now_timestamp();
    sessions_.put(session);
  }
  after_commit(live->codebase_id(), session.sandbox_id(), outcome.commit);
  nlohmann::ordered_json details = {{"session_id", session.id()}};
  details.update(exec_details(request.command(), "", outcome));
  audit(session.sandbox_id(), "session_exec", std::move(details));
  if (outcome.result.cancelled)
    throw_cancelled_by_caller("the session command (not the session)", session.id());
  throw_if_timed_out(outcome.result, timeout, "session command");
  return to_wire(outcome.result, text_room_of(unary));
}

v1::ExecResult SandboxService::SessionExec(const v1::SessionExecRequest& request,
                                           CallContext& call) {
  UnaryOutput output(output_budget_, "session exec");
  return output.charged([&] { return run_session_exec(request, call, nullptr, &output); }, call);
}

void SandboxService::SessionExecStream(const v1::SessionExecRequest& request, CallContext& call,
                                       const Emit<v1::ExecOutput>& emit) {
  StreamEmitter emitter(emit, call);
  emitter.finish(run_session_exec(request, call, emitter.callback()));
}

}  // namespace agentfense::server
