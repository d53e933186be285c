#include "runtime/docker/stream_demux.h"

#include <algorithm>

namespace agentfense::runtime::docker {
namespace {

constexpr unsigned char kStderr = 2, kSystemError = 3;

}  // namespace

void StreamDemux::feed(std::string_view bytes, const Sink& sink) {
  if (broken_) throw MalformedStream(std::string(bytes));
  while (!bytes.empty()) {
    if (payload_left_ > 0) {
      const std::size_t take = std::min<std::size_t>(payload_left_, bytes.size());
      sink(current_, bytes.substr(0, take));
      payload_left_ -= static_cast<std::uint32_t>(take);
      bytes.remove_prefix(take);
      continue;
    }
    const std::size_t take = std::min(header_.size() - header_have_, bytes.size());
    std::copy_n(bytes.begin(), take, header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
    header_have_ += take;
    bytes.remove_prefix(take);
    if (header_have_ < header_.size()) return;
    header_have_ = 0;
    const unsigned char type = header_[0];
    if (type > kSystemError || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
      broken_ = true;
      throw MalformedStream(
          std::string(reinterpret_cast<const char*>(header_.data()), header_.size()) +
          std::string(bytes));
    }
    // stdin frames never carry output; dockerd's own error text goes with stderr.
    current_ = (type == kStderr || type == kSystemError) ? Stream::kStderr : Stream::kStdout;
    payload_left_ = (std::uint32_t{header_[4]} << 24) | (std::uint32_t{header_[5]} << 16) |
                    (std::uint32_t{header_[6]} << 8) | std::uint32_t{header_[7]};
  }
}

}  // namespace agentfense::runtime::docker
