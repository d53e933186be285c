// Output kept by a caller that also watches it as it arrives. With an output callback
// the runtime hands each chunk on instead of keeping it (ExecSpec::on_output), so that
// a streaming caller holds no second copy; a caller that wants the whole result too
// (the MCP tools' progress meter, the server's charged unary execs) keeps it here and
// fills the result once the command ended.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "runtime/exec.h"

namespace agentfense::runtime {

class KeptOutput {
 public:
  void keep(Stream which, std::string_view chunk) {
    (which == Stream::kStdout ? stdout_ : stderr_).append(chunk);
  }
  // Moves what was kept into `result`, ahead of what it holds: nothing when the runtime
  // handed the output on, all of it when no callback was called (a remote call).
  void fill(ExecResult& result) {
    put_before(result.stdout_data, stdout_);
    put_before(result.stderr_data, stderr_);
  }

 private:
  static void put_before(std::string& held, std::string& kept) {
    if (kept.empty()) return;
    kept += held;
    held = std::move(kept);
  }

  std::string stdout_, stderr_;
};

}  // namespace agentfense::runtime
