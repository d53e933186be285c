// The caller's terminal modes around a command that runs on the caller's terminal
// (`agentfense run`: the command's stdin/stdout/stderr are ours). The command cannot
// inject input (bwrap --new-session), but it can tcsetattr the terminal it holds: `stty
// -echo -isig` left the person's next password prompt echoing nothing and made Ctrl-C
// inert. The modes saved before the command are put back after it, before the review.
#pragma once

#include <termios.h>

#include <vector>

namespace agentfense::cli {

class TerminalModes {
 public:
  // Saves the modes of each of stdin, stdout and stderr that is a terminal.
  TerminalModes();
  TerminalModes(const TerminalModes&) = delete;
  TerminalModes& operator=(const TerminalModes&) = delete;
  ~TerminalModes() { restore(); }

  // Puts the saved modes back and resumes output the command suspended. Only while we
  // are the terminal's foreground job: a background `run &` would otherwise overwrite
  // the modes the shell's line editor set meanwhile. Idempotent; never throws.
  void restore() const;

 private:
  struct Saved {
    int fd;
    termios modes;
  };
  std::vector<Saved> saved_;
};

}  // namespace agentfense::cli
