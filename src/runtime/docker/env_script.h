// The caller's environment for a command in a container, as shell text. It must reach the
// command only: dockerd, runc and the prologue that starts the command (exec_launch.h) run
// without it, so LD_PRELOAD, BASH_ENV and friends cannot run code before the command is
// in its own cgroup (or inside a session's driver loop). The prologue reads these lines
// from its stdin and evaluates them just before exec'ing the command; a session's driver
// runs them as its first, silent command.
//
// Values travel single-quoted (any byte but NUL, newlines included); names must be
// portable shell names, which is all a POSIX shell can export.
#pragma once

#include <map>
#include <string>

namespace agentfense::runtime::docker {

// `text` as one single-quoted shell word: it's -> 'it'\''s'.
std::string shell_quote(const std::string& text);

// "NAME='value'\nexport NAME\n" per variable. Throws UserError for a name that is not
// [A-Za-z_][A-Za-z0-9_]* or a value holding a NUL byte.
std::string export_script(const std::map<std::string, std::string>& env);

}  // namespace agentfense::runtime::docker
