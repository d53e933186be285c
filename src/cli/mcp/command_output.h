// What run and session_run return, shared: a command's result as structured content
// (and its schema), the failure a timeout or cancellation becomes, and the progress
// message while it runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "runtime/exec.h"

namespace agentfense::cli::mcp {

// The output schema's properties (extra ones may be added by a tool).
nlohmann::json command_output_properties();
nlohmann::json command_output_required();

// The structured result; throws ToolFailure (with this result attached) when the command
// timed out or was cancelled.
nlohmann::json command_output(const runtime::ExecResult& result, double timeout_seconds);

// Counts output as it arrives, for the progress message ("12 s, 3.4 kB of output").
class OutputMeter {
 public:
  void add(std::string_view chunk) { bytes_ += chunk.size(); }
  std::string describe(const char* what) const;

 private:
  std::atomic<std::size_t> bytes_{0};
};

}  // namespace agentfense::cli::mcp
