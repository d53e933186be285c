// A unary exec's output (Exec, SessionExec: answered with the whole result), kept here
// as the runtime hands it on (ExecSpec::on_output) and charged to the server's output
// budget (memory_budget.h) as the command writes it, not only once it ended: execs
// started together all passed the up-front check and each held up to
// 2 x runtime.output_limit uncounted while it ran; one principal's 512 gRPC threads
// could hold 16 GB. While other calls' output fills the budget, the command's output
// waits: the runtime's pump stops reading its pipes, so its writes block until room is
// made; a command only runs slower, at worst until its timeout. Results stay exact but
// where the wait might never end (MemoryBudget::Room::kCut: results of execs that ran
// together in one sandbox all wait for the last of them): there what the command writes
// past the budget is dropped, and its result says truncated.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/exec.h"
#include "runtime/kept_output.h"
#include "sandbox.pb.h"
#include "server/call_context.h"
#include "server/memory_budget.h"

namespace agentfense::server {

namespace v1 = ::sandbox::v1;

class UnaryOutput {
 public:
  // `what` names the call in a refusal ("exec").
  UnaryOutput(MemoryBudget& budget, std::string what) : budget_(budget), what_(std::move(what)) {}
  UnaryOutput(const UnaryOutput&) = delete;
  UnaryOutput& operator=(const UnaryOutput&) = delete;

  // Refuses the call before anything runs while the budget, or the share of `holder`
  // (MemoryBudget; caller_holder() in principal_share.h), is spent (RESOURCE_EXHAUSTED).
  // The output is charged to `holder` from here on; called once, before capture().
  // `sandbox`: where the command runs (its result waits for that sandbox's sync).
  void check_room(std::string holder, std::string sandbox);

  // The runtime's on_output while the command runs: keeps and charges each captured
  // chunk, then waits while other calls' output fills the budget, until `stop_waiting()` (its
  // deadline passed, its caller went away, its sandbox stops: the pump then ends it as
  // usual). Valid while this object lives.
  std::function<void(runtime::Stream, std::string_view)> capture(
      std::function<bool()> stop_waiting);

  // The command ended and its output is all captured: it no longer counts among the
  // capturing execs that wait for the oldest (LiveSandbox::exec's output_done).
  void captured();
  // Moves the kept output into `result` (which the runtime left without it), flagging the
  // streams whose output was cut.
  void fill(runtime::ExecResult& result);

  // How much text each of `streams` streams of output that is not UTF-8 may render beside
  // their exact bytes (at most `most`): what the budget and the share leave now, and at
  // least kMinText. Before, the rendering was charged once made, whatever it took: output
  // of 32 MiB that is not UTF-8 became a 62 MiB result, and one tenant held 246 MiB of its
  // 128 MiB share (sweep U, U1).
  std::size_t text_room(int streams, std::size_t most);
  static constexpr std::size_t kMinText = 64 << 10;

  // The finished result: charged for what the answer holds and kept by `call` until sent.
  v1::ExecResult charged(v1::ExecResult result, CallContext& call);
  // charged(exec()), where `exec` runs the command into this output; a timed-out command's
  // error carries the grant on (CommandTimeoutError::charge_body_to), for its body.
  v1::ExecResult charged(const std::function<v1::ExecResult()>& exec, CallContext& call);

 private:
  MemoryBudget& budget_;
  const std::string what_;
  std::shared_ptr<MemoryBudget::Grant> grant_;  // from check_room() on
  runtime::KeptOutput kept_;  // the runtime calls capture()'s callback on one thread
  std::int64_t captured_ = 0;
  bool cutting_ = false;  // once cut, the rest of the output goes too (results stay prefixes)
  bool stdout_cut_ = false, stderr_cut_ = false;
};

}  // namespace agentfense::server
