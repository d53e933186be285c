// One command's output as its caller gets it: stdout and stderr kept apart, each capped
// at the output limit (beyond it bytes are dropped and the stream is flagged truncated),
// kept, or handed to the live callback as it arrives when there is one (take_output).
// The same rules as the bwrap runtime's IoPump, for output that arrives demultiplexed.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "runtime/exec.h"
#include "runtime/io_pump.h"

namespace agentfense::runtime::docker {

class OutputCapture {
 public:
  using Callback = std::function<void(Stream, std::string_view)>;

  OutputCapture(std::size_t limit, Callback on_output)
      : limit_(limit), on_output_(std::move(on_output)) {}

  void add(Stream which, std::string_view data);
  // Moves the captured output and truncation flags into `result`.
  void collect(ExecResult& result);

 private:
  std::size_t limit_;
  Callback on_output_;
  CapturedStream stdout_, stderr_;
};

}  // namespace agentfense::runtime::docker
