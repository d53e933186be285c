// The credentials the server accepts, from auth.keys (fixed for the process) and the keys
// file auth.keys_file (re-read when it changes), as lookups by key hash and by client
// certificate CN.
//
// Reloading: reload() re-reads the keys file when its stamp (file_stamp.h) changed, or
// always when forced (SIGHUP); the server polls it every few hundred milliseconds, so
// `agentfense server keys revoke` takes effect within a second without a restart. Each
// read replaces the whole set at once; a request sees the old or the new set, never a mix.
//
// Fail closed: a keys file that becomes unreadable or invalid (or contradicts auth.keys)
// while the server runs withdraws every key it held, with an error in the log, until it
// is fixed: a revocation can never be lost to a bad edit. At start-up it is an error. A
// keys file that does not exist (yet) holds no keys.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/config/key_entries.h"
#include "server/file_stamp.h"
#include "server/principal.h"

namespace agentfense::server {

class KeyRing {
 public:
  struct Match {
    PrincipalPtr principal;
    std::string key_id;  // the key's id, or the certificate's CN; for logs
  };

  // Throws UserError when the keys file is invalid or contradicts `inline_entries`.
  KeyRing(std::vector<KeyEntry> inline_entries, std::string keys_file,
          PrincipalQuotas default_quotas);

  // The principal of the API key with this hash ("sha256:..."), if any.
  std::optional<Match> by_key_hash(const std::string& hash) const;
  // The principal a verified client certificate with this subject CN maps to, if any.
  std::optional<Match> by_certificate(const std::string& cn) const;

  // A principal by its id, null when no entry names it.
  PrincipalPtr principal(const std::string& id) const;

  // Re-reads the keys file if it changed (or `force`). True when the set changed.
  bool reload(bool force);

  std::size_t size() const;

 private:
  struct Snapshot {
    std::unordered_map<std::string, Match> by_hash;
    std::unordered_map<std::string, Match> by_cn;
    std::unordered_map<std::string, PrincipalPtr> by_id;
  };
  std::shared_ptr<const Snapshot> snapshot() const;
  std::shared_ptr<const Snapshot> build(const std::vector<KeyEntry>& file_entries) const;

  const std::vector<KeyEntry> inline_entries_;
  const std::string keys_file_;
  const PrincipalQuotas default_quotas_;
  std::mutex reload_mutex_;
  FileStamp attempted_;  // the keys file as last read or tried (reload_mutex_)
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
};

// Reads a keys file: no entries when it does not exist, UserError when it is invalid.
std::vector<KeyEntry> read_keys_file(const std::string& path);

}  // namespace agentfense::server
