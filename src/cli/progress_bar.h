// A one-line progress bar on stderr for long CLI work (applying a large change set),
// drawn only when stderr is a terminal: logs and pipes stay free of carriage returns.
#pragma once

#include <cstddef>
#include <string>

namespace agentfense::cli {

class ProgressBar {
 public:
  // Draws nothing unless stderr is a terminal and the total reaches `min_total`.
  ProgressBar(std::string label, std::size_t min_total);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();  // ends the line once something was drawn

  // Redraws when the shown percentage changes (so at most 101 times).
  void update(std::size_t done, std::size_t total);

 private:
  const std::string label_;
  const std::size_t min_total_;
  const bool terminal_;
  int shown_percent_ = -1;
};

}  // namespace agentfense::cli
