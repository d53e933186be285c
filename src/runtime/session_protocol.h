// The wire format between a session's driver loop (session_driver_script.h) and the
// supervisor, the same for every runtime; only the transport differs (a socket pair
// under bwrap, session_channel.h; a TCP connection in a container, docker/session_link.h).
// Both directions NUL-terminated:
//   commands (us -> shell): "<seq> <nonce>\n<command>"
//   reports  (shell -> us): "R" once the loop is ready, then per command
//                            "D<seq> <nonce> <exit code> <cwd>"
// Each command carries a fresh random nonce that its report must echo, so a stale or
// replayed report never completes another command (docs/security.md, "Sessions").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentfense::runtime {

struct CommandId {
  uint64_t seq = 0;
  uint64_t nonce = 0;  // random per command; its report must echo it
};

// The framed bytes to write to the command channel.
std::string frame_command(uint64_t seq, uint64_t nonce, const std::string& command);

// A fresh unpredictable nonce for one command (getrandom).
uint64_t new_command_nonce();

struct StatusMessage {
  enum class Kind { kReady, kDone } kind = Kind::kReady;
  uint64_t seq = 0;
  uint64_t nonce = 0;
  int exit_code = 0;
  std::string cwd;
  pid_t sender_pid = -1;  // host pid of the writer, where the transport knows it

  // The report that completes command `id`.
  bool completes(const CommandId& id) const {
    return kind == Kind::kDone && seq == id.seq && nonce == id.nonce;
  }
};

// Reports as they arrive in pieces: feed bytes, take whole messages.
class StatusBuffer {
 public:
  void append(std::string_view bytes) { buffer_.append(bytes); }
  // The first complete message, if any; what is not a message is skipped (only the
  // shell writes here, see the transports).
  std::optional<StatusMessage> take();

 private:
  std::string buffer_;
};

}  // namespace agentfense::runtime
