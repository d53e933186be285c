#include "server/auth/key_ring.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/errors.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace agentfense::server {

std::vector<KeyEntry> read_keys_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    throw UserError("cannot read keys file " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw UserError("cannot read keys file " + path + ": " + std::strerror(errno));
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return parse_keys_file(text, path);
}

KeyRing::KeyRing(std::vector<KeyEntry> inline_entries, std::string keys_file,
                 PrincipalQuotas default_quotas)
    : inline_entries_(std::move(inline_entries)),
      keys_file_(std::move(keys_file)),
      default_quotas_(default_quotas),
      attempted_(stamp_of(keys_file_)) {
  const std::vector<KeyEntry> file_entries =
      keys_file_.empty() ? std::vector<KeyEntry>{} : read_keys_file(keys_file_);
  if (!keys_file_.empty() && !attempted_.exists())
    log::warn("auth.keys_file_missing",
              {{"keys_file", keys_file_},
               {"hint", "no keys yet: add one with `agentfense server keys add`"}});
  snapshot_ = build(file_entries);
}

std::shared_ptr<const KeyRing::Snapshot> KeyRing::build(
    const std::vector<KeyEntry>& file_entries) const {
  std::vector<KeyEntry> all = inline_entries_;
  all.insert(all.end(), file_entries.begin(), file_entries.end());
  check_key_entries(all, "auth.keys and keys file " + keys_file_);
  auto snapshot = std::make_shared<Snapshot>();
  // One Principal object per principal id, shared by all of its credentials.
  for (const KeyEntry& entry : all) {
    PrincipalPtr& principal = snapshot->by_id[entry.principal_id];
    if (!principal)
      principal = std::make_shared<const Principal>(principal_of(entry, default_quotas_));
    if (entry.is_api_key())
      snapshot->by_hash[entry.hash] = {principal,
                                       entry.key_id.empty() ? "(inline key)" : entry.key_id};
    else
      snapshot->by_cn[entry.client_cn] = {principal, "CN=" + entry.client_cn};
  }
  return snapshot;
}

std::shared_ptr<const KeyRing::Snapshot> KeyRing::snapshot() const {
  const std::lock_guard lock(mutex_);
  return snapshot_;
}

std::optional<KeyRing::Match> KeyRing::by_key_hash(const std::string& hash) const {
  const auto set = snapshot();
  const auto it = set->by_hash.find(hash);
  if (it == set->by_hash.end()) return std::nullopt;
  return it->second;
}

std::optional<KeyRing::Match> KeyRing::by_certificate(const std::string& cn) const {
  const auto set = snapshot();
  const auto it = set->by_cn.find(cn);
  if (it == set->by_cn.end()) return std::nullopt;
  return it->second;
}

bool KeyRing::reload(bool force) {
  if (keys_file_.empty()) return false;
  const std::lock_guard reloading(reload_mutex_);
  const FileStamp stamp = stamp_of(keys_file_);
  if (!force && stamp == attempted_) return false;
  attempted_ = stamp;
  std::shared_ptr<const Snapshot> fresh;
  try {
    fresh = build(read_keys_file(keys_file_));
    log::info("auth.keys_reloaded", {{"keys_file", keys_file_},
                                     {"keys", fresh->by_hash.size()},
                                     {"certificates", fresh->by_cn.size()}});
  } catch (const UserError& error) {
    // Fail closed: without a valid file, none of its keys is accepted any more.
    fresh = build({});
    log::error("auth.keys_file_invalid",
               {{"keys_file", keys_file_},
                {"error", error.what()},
                {"effect", "every key of the keys file is refused until it is fixed"}});
  }
  const std::lock_guard lock(mutex_);
  snapshot_ = std::move(fresh);
  return true;
}

PrincipalPtr KeyRing::principal(const std::string& id) const {
  const auto set = snapshot();
  const auto it = set->by_id.find(id);
  return it == set->by_id.end() ? nullptr : it->second;
}

std::size_t KeyRing::size() const {
  const auto set = snapshot();
  return set->by_hash.size() + set->by_cn.size();
}

}  // namespace agentfense::server
