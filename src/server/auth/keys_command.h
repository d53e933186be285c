// `agentfense server keys add|list|revoke` (agentfense-server keys ...): manages the keys
// file a server reads (auth.keys_file), which a running server re-reads within a second
// of a change. The file is replaced atomically (written beside it, then renamed) under a
// lock, mode 0600, so a server never reads half of it and two runs never lose an entry.
//
//   add    --id ID --owner OWNER... [--role user|admin] [--quota NAME=VALUE]...
//          [--client-cn CN]      a new API key (printed once on stdout, stored only as
//                                its SHA-256), or with --client-cn a client certificate
//   list                         every entry: key id or CN, principal, role, owners,
//                                quotas, created; never a key
//   revoke KEY_ID | --principal ID | --client-cn CN
//
// The file is --keys-file FILE, or auth.keys_file of --config FILE.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace agentfense::server {

// Registers `keys` on `app`; the returned function runs the chosen action (exit status).
// `config_file` is the parent's --config, used when `keys` is given none of its own.
std::function<int()> add_keys_command(CLI::App& app, const std::string& config_file);

}  // namespace agentfense::server
