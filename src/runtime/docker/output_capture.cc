#include "runtime/docker/output_capture.h"

namespace agentfense::runtime::docker {

void OutputCapture::add(Stream which, std::string_view data) {
  take_output(which == Stream::kStdout ? stdout_ : stderr_, limit_, on_output_, which, data);
}

void OutputCapture::collect(ExecResult& result) {
  result.stdout_data = std::move(stdout_.data);
  result.stderr_data = std::move(stderr_.data);
  result.stdout_truncated = stdout_.truncated;
  result.stderr_truncated = stderr_.truncated;
}

}  // namespace agentfense::runtime::docker
