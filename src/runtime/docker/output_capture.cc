#include "runtime/docker/output_capture.h"

#include <algorithm>

namespace agentfense::runtime::docker {

void OutputCapture::add(Stream which, std::string_view data) {
  CapturedStream& captured = which == Stream::kStdout ? stdout_ : stderr_;
  const std::size_t room = limit_ - std::min(limit_, captured.data.size());
  const std::size_t kept = std::min(room, data.size());
  if (kept < data.size()) captured.truncated = true;
  if (kept == 0) return;
  captured.data.append(data.substr(0, kept));
  if (on_output_) on_output_(which, data.substr(0, kept));
}

void OutputCapture::collect(ExecResult& result) {
  result.stdout_data = std::move(stdout_.data);
  result.stderr_data = std::move(stderr_.data);
  result.stdout_truncated = stdout_.truncated;
  result.stderr_truncated = stderr_.truncated;
}

}  // namespace agentfense::runtime::docker
