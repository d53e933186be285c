// The sandbox's /etc is generated, never the host's: the agent sees two users (root and
// agent), localhost, and nothing else (no shadow, no host names, no host resolver config
// at all). A few read-only host files that programs need to work
// (dynamic linker cache, CA certificates, Debian alternatives) are bound separately, see
// bwrap_args.cc.
#pragma once

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::runtime {

inline constexpr unsigned kAgentUid = 1000;  // uid/gid of "agent" inside the sandbox
inline constexpr unsigned kAgentGid = 1000;
// HOME is the private tmpfs /tmp, not /workspace: dotfiles and caches that tools write
// (.bash_history, .cache/pip, ...) must not show up as changes to the codebase.
inline constexpr const char* kAgentHome = "/tmp";

struct GeneratedFile {
  UniqueFd content;  // sealed memfd
  std::string destination;
};

// passwd, group, hosts, nsswitch.conf, resolv.conf (empty without network; the network
// helper's DNS forwarder when network is on), gitconfig (see etc_files.cc).
std::vector<GeneratedFile> generate_etc_files(bool network);

}  // namespace agentfense::runtime
