#include "cli/terminal_modes.h"

#include <unistd.h>

namespace agentfense::cli {

TerminalModes::TerminalModes() {
  for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    Saved saved{fd, {}};
    if (::isatty(fd) == 1 && ::tcgetattr(fd, &saved.modes) == 0) saved_.push_back(saved);
  }
}

void TerminalModes::restore() const {
  for (const Saved& saved : saved_) {
    if (::tcgetpgrp(saved.fd) != ::getpgrp()) continue;
    // TCSANOW, not TCSADRAIN: output the command stopped (tcflow TCOOFF) never drains,
    // and the review written next would block on it too, so it is resumed as well.
    (void)::tcsetattr(saved.fd, TCSANOW, &saved.modes);
    (void)::tcflow(saved.fd, TCOON);
  }
}

}  // namespace agentfense::cli
