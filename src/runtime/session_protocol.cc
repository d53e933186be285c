#include "runtime/session_protocol.h"

#include <cstdio>
#include <cstdlib>

#include "common/random_hex.h"

namespace agentfense::runtime {
namespace {

// "D<seq> <nonce> <code> <cwd>"; nullopt for anything malformed.
std::optional<StatusMessage> parse_done(const std::string& body) {
  char* end = nullptr;
  StatusMessage message{.kind = StatusMessage::Kind::kDone};
  message.seq = std::strtoull(body.c_str() + 1, &end, 10);
  if (*end != ' ') return std::nullopt;
  message.nonce = std::strtoull(end + 1, &end, 16);
  if (*end != ' ') return std::nullopt;
  message.exit_code = static_cast<int>(std::strtol(end + 1, &end, 10));
  if (*end != ' ') return std::nullopt;
  message.cwd = end + 1;
  return message;
}

}  // namespace

std::string frame_command(uint64_t seq, uint64_t nonce, const std::string& command) {
  char nonce_hex[17];
  std::snprintf(nonce_hex, sizeof nonce_hex, "%016llx", static_cast<unsigned long long>(nonce));
  std::string framed = std::to_string(seq) + " " + nonce_hex + "\n" + command;
  framed.push_back('\0');
  return framed;
}

uint64_t new_command_nonce() {
  uint64_t nonce = 0;
  fill_random(&nonce, sizeof nonce);
  return nonce;
}

std::optional<StatusMessage> StatusBuffer::take() {
  for (;;) {
    const auto end = buffer_.find('\0');
    if (end == std::string::npos) return std::nullopt;
    const std::string body = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    if (body == "R") return StatusMessage{.kind = StatusMessage::Kind::kReady};
    if (body.starts_with('D'))
      if (auto message = parse_done(body)) return message;
  }
}

}  // namespace agentfense::runtime
