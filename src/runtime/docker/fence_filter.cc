#include "runtime/docker/fence_filter.h"

#include <algorithm>
#include <cstdio>

namespace agentfense::runtime::docker {

std::string command_fence(unsigned long long seq, unsigned long long nonce) {
  char text[64];
  std::snprintf(text, sizeof text,
                "\x1e"
                "AF %llu %016llx\x1e",
                seq, nonce);
  return text;
}

void FenceFilter::expect(std::string fence, const Out& out) {
  fence_ = std::move(fence);
  seen_ = false;
  std::string held = std::move(partial_) + std::move(after_);
  partial_.clear();
  after_.clear();
  feed(held, out);
}

std::string FenceFilter::take_held() {
  std::string held = std::move(partial_) + std::move(after_);
  partial_.clear();
  after_.clear();
  return held;
}

void FenceFilter::feed(std::string_view bytes, const Out& out) {
  if (seen_) {
    after_.append(bytes);
    return;
  }
  const std::string data = partial_ + std::string(bytes);
  partial_.clear();
  const auto at = data.find(fence_);
  if (at != std::string::npos) {
    if (at > 0) out(std::string_view(data).substr(0, at));
    after_ = data.substr(at + fence_.size());
    seen_ = true;
    return;
  }
  // Hold back the longest tail that could still grow into the fence.
  std::size_t keep = std::min(data.size(), fence_.size() - 1);
  while (keep > 0 && data.compare(data.size() - keep, keep, fence_, 0, keep) != 0) --keep;
  if (data.size() > keep) out(std::string_view(data).substr(0, data.size() - keep));
  partial_ = data.substr(data.size() - keep);
}

}  // namespace agentfense::runtime::docker
