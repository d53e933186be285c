// Who may call the server: the entries of `auth.keys` (inline in the config) and of the
// keys file `auth.keys_file` (managed by `agentfense server keys`). Each entry maps ONE
// credential to a principal (server/principal.h):
//
//   - id: alice                  # the principal
//     owners: [team-a]           # owner ids it acts for (a user needs at least one)
//     role: user                 # user (default) or admin
//     quotas: {running_sandboxes: 5, stored_bytes: 10GiB}   # others: auth.default_quotas
//     key_id: afk_3kX9q2Lm       # an API key: its public prefix (shown, logged) ...
//     hash: sha256:<64 hex>      # ... and the SHA-256 of the whole key; never the key
//   - id: ci
//     owners: [ci]
//     client_cn: ci-runner       # a client certificate: its verified subject CN
//
// Several entries may name the same principal (two keys during a rotation, a key and a
// certificate); they must then agree on owners, role and quotas.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/principal.h"

namespace agentfense::server {

struct KeyEntry {
  std::string principal_id;
  std::vector<std::string> owners;
  Role role = Role::kUser;
  std::map<std::string, std::int64_t> quotas;  // set explicitly, by quota setting name
  std::string key_id;                          // API key entries: "afk_" + 8 characters
  std::string hash;                            // API key entries: "sha256:<64 hex>"
  std::string client_cn;                       // certificate entries
  std::string created;                         // informational, RFC 3339 UTC

  bool is_api_key() const { return !hash.empty(); }
};

// The principal an entry authenticates as, its quotas completed from `defaults`.
Principal principal_of(const KeyEntry& entry, const PrincipalQuotas& defaults);

// Entries of one source that contradict each other: the same key hash or certificate CN
// twice, or one principal id with different owners, role or quotas. Throws UserError
// naming both entries (`source`: "auth.keys in /etc/x.yaml", "keys file /etc/keys.yaml").
void check_key_entries(const std::vector<KeyEntry>& entries, const std::string& source);

// Parses the text of a keys file (a mapping with one key, `keys`, holding a list of
// entries; an empty file has no entries). Throws UserError naming `path` and the line.
std::vector<KeyEntry> parse_keys_file(const std::string& text, const std::string& path);
// The keys file text for `entries` (parse_keys_file reads it back unchanged).
std::string render_keys_file(const std::vector<KeyEntry>& entries);

}  // namespace agentfense::server
