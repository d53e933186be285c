// A docker session's output reaches us on two connections of its own (shell_output.h),
// apart from the shell's report on its channel (session_link.h), so the report alone
// cannot say that all of a command's output has arrived. After each command the driver
// writes a fence, "\x1eAF <seq> <nonce>\x1e", to its stdout and to its stderr; each is
// one stream, kept in order, so a command's output on it is exactly what precedes its
// fence.
// The nonce is the command's secret (the channel carried it), so no process the command
// started can write the fence early. What follows a fence (a background job still
// writing) is held and becomes the next command's output, as it would under bwrap.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace agentfense::runtime::docker {

class FenceFilter {
 public:
  using Out = std::function<void(std::string_view)>;

  // The next command's fence; bytes held since the last fence go to `out` first.
  void expect(std::string fence, const Out& out);
  // Passes output before the fence to `out`; the fence itself is dropped.
  void feed(std::string_view bytes, const Out& out);
  bool seen() const { return seen_; }
  // Takes what is held for the next command (output from before the first command).
  std::string take_held();

 private:
  std::string fence_;
  std::string partial_;  // a tail that may be the start of the fence
  std::string after_;    // bytes after the fence: the next command's
  bool seen_ = true;     // no command running: everything is held for the next
};

// The fence for command `seq` with `nonce` (as session_protocol.h frames them).
std::string command_fence(unsigned long long seq, unsigned long long nonce);

}  // namespace agentfense::runtime::docker
