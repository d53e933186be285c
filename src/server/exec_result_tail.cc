#include "server/exec_result_tail.h"

namespace agentfense::server {

std::string OutputTail(const std::string& output, std::size_t max_bytes, bool& truncated) {
  if (output.size() <= max_bytes) return output;
  truncated = true;
  // A proto string must stay valid UTF-8 for the client to parse it: skip the rest of a
  // character cut in two (at most 3 continuation bytes; raw bytes may be anything).
  std::size_t start = output.size() - max_bytes;
  for (int skipped = 0; skipped < 3 && start < output.size() &&
                        (static_cast<unsigned char>(output[start]) & 0xC0) == 0x80;
       ++skipped) {
    ++start;
  }
  return output.substr(start);
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
