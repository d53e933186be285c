// The sandboxed command's environment is built from nothing, never inherited: the
// supervisor's environment (API keys, cloud credentials) must not leak in.
//
// Base: PATH (Debian's default, then the alias directory of command_aliases.h), HOME=/tmp (see
// etc_files.h), LANG=C.UTF-8, USER and LOGNAME=agent, TERM=dumb (output is captured, not a
// terminal), PWD=<workdir>. Entries of `extra` are added on top and may override the base.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace agentfense::runtime {

// "KEY=VALUE" strings for execve. Throws UserError for a key that is empty or holds '='
// or NUL, or a value holding NUL (execve cannot represent them).
std::vector<std::string> clean_environment(const std::map<std::string, std::string>& extra,
                                           const std::string& workdir);

}  // namespace agentfense::runtime
