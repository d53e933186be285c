#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace agentfense::cli {

ProgressBar::ProgressBar(std::string label, std::size_t min_total)
    : label_(std::move(label)), min_total_(min_total), terminal_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  if (shown_percent_ >= 0) std::fputc('\n', stderr);
}

void ProgressBar::update(std::size_t done, std::size_t total) {
  if (!terminal_ || total < min_total_ || total == 0) return;
  const int percent = static_cast<int>(done * 100 / total);
  if (percent == shown_percent_) return;
  shown_percent_ = percent;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  std::fprintf(stderr, "\ragentfense: %s [%s%s] %zu/%zu", label_.c_str(),
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), '.').c_str(), done, total);
  std::fflush(stderr);
}

}  // namespace agentfense::cli
