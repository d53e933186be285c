// Commands the documents (and most agents) type that a Debian host lacks: `python` and
// `pip` where only python3 and pip3 are installed. The bwrap sandbox sees the host's
// /usr read-only, so these live as symlinks in a directory of the sandbox root that
// the default PATH lists last (clean_env.h): a host that has a real `python` keeps it.
#pragma once

#include <string>
#include <vector>

namespace agentfense::runtime {

// Where the alias symlinks are created inside the sandbox (on the read-only root).
inline constexpr const char* kCommandAliasDir = "/run/agentfense/bin";

struct CommandAlias {
  std::string name;    // "python"
  std::string target;  // "/usr/bin/python3": where the sandbox finds the real command
};

// The aliases this host needs: for each of python -> python3 and pip -> pip3, the alias
// when no directory of the sandbox's default PATH has `name` and one has `target`.
std::vector<CommandAlias> missing_command_aliases();

}  // namespace agentfense::runtime
