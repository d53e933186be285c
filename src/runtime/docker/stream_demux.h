// Docker's multiplexed stream (an attached exec without a TTY): frames of an 8-byte
// header {stream type (1 stdout, 2 stderr; 0 stdin and 3 daemon errors also occur), three
// zero bytes, payload length as a big-endian uint32} followed by the payload. Bytes arrive
// in arbitrary pieces; the demuxer keeps a half-read header or payload between calls, so
// stdout and stderr come out exactly as the command wrote each of them.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "runtime/exec.h"

namespace agentfense::runtime::docker {

// Bytes that are not a frame header: dockerd wrote plain text instead (it does so for an
// exec that fails to start, "OCI runtime exec failed: ..."). what() is that text.
class MalformedStream : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class StreamDemux {
 public:
  using Sink = std::function<void(Stream, std::string_view)>;

  // Hands every payload piece to `sink` as soon as it is complete enough to deliver (a
  // frame's payload may arrive in several pieces). Throws MalformedStream.
  void feed(std::string_view bytes, const Sink& sink);

 private:
  std::array<unsigned char, 8> header_{};
  std::size_t header_have_ = 0;
  std::uint32_t payload_left_ = 0;
  Stream current_ = Stream::kStdout;
  bool broken_ = false;
};

}  // namespace agentfense::runtime::docker
