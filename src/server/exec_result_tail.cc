#include "server/exec_result_tail.h"

#include "common/text_safety.h"

namespace agentfense::server {

std::string OutputTail(const std::string& output, std::size_t max_bytes, bool& truncated) {
  if (output.size() <= max_bytes) return output;
  truncated = true;
  // A proto string must stay valid UTF-8 for the client to parse it: not the rest of a
  // character cut in two.
  return std::string(utf8_suffix(output, max_bytes));
}

v1::ExecResult ExecResultTail(const v1::ExecResult& result, std::size_t max_bytes) {
  v1::ExecResult tail = result;
  bool stdout_cut = result.stdout_truncated(), stderr_cut = result.stderr_truncated();
  tail.set_stdout(OutputTail(result.stdout(), max_bytes, stdout_cut));
  tail.set_stderr(OutputTail(result.stderr(), max_bytes, stderr_cut));
  tail.clear_stdout_bytes();
  tail.clear_stderr_bytes();
  tail.set_stdout_truncated(stdout_cut);
  tail.set_stderr_truncated(stderr_cut);
  return tail;
}

}  // namespace agentfense::server
