#include "server/auth/keys_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "server/auth/api_key.h"
#include "server/auth/key_ring.h"
#include "server/config/config.h"
#include "server/config/quota_settings.h"

namespace agentfense::server {
namespace {

struct Options {
  std::string keys_file;
  std::string config_file;
  std::string id;
  std::vector<std::string> owners;
  std::string role;
  std::vector<std::string> quotas;
  std::string client_cn;
  std::string revoke_key;
  std::string revoke_principal;
  std::string revoke_client_cn;
};

std::string keys_file_of(const Options& options, const std::string& parent_config) {
  if (!options.keys_file.empty()) return std::filesystem::absolute(options.keys_file).string();
  const std::string config_file = options.config_file.empty() ? parent_config : options.config_file;
  if (config_file.empty())
    throw UserError("which keys file? give --keys-file FILE, or --config FILE with auth.keys_file");
  const Config config = load_config(config_file);
  if (config.auth.keys_file.empty())
    throw UserError("config " + config_file + " sets no auth.keys_file; give --keys-file FILE");
  return config.auth.keys_file;
}

// Held while the file is read, changed and replaced, so two runs cannot interleave.
UniqueFd lock_keys_file(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const std::string lock_path = path + ".lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock) throw SystemError("open " + lock_path, errno);
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) throw SystemError("flock " + lock_path, errno);
  return lock;
}

void write_all(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    check_syscall(wrote, "write " + path);
    done += static_cast<std::size_t>(wrote);
  }
}

// Written beside the target and renamed over it: a reader sees the old or the new file.
void save_keys_file(const std::string& path, const std::vector<KeyEntry>& entries) {
  const std::string text = render_keys_file(entries);
  (void)parse_keys_file(text, path);  // never write what the server would refuse
  const std::filesystem::path target(path);
  const std::string temp = path + ".tmp";
  UniqueFd file(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!file) throw SystemError("create " + temp, errno);
  check_syscall(::fchmod(file.get(), 0600), "chmod " + temp);
  write_all(file.get(), text, temp);
  check_syscall(::fsync(file.get()), "fsync " + temp);
  check_syscall(::rename(temp.c_str(), path.c_str()), "rename " + temp + " to " + path);
  UniqueFd dir(::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) check_syscall(::fsync(dir.get()), "fsync " + target.parent_path().string());
}

std::string now_rfc3339() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string describe_quotas(const KeyEntry& entry) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : entry.quotas)
    parts.push_back(name + "=" + format_quota(*find_quota_setting(name), value));
  return parts.empty() ? "-" : join(parts, ",");
}

std::map<std::string, std::int64_t> parse_quota_flags(const std::vector<std::string>& flags) {
  std::map<std::string, std::int64_t> quotas;
  for (const std::string& flag : flags) {
    const auto equals = flag.find('=');
    const std::string name = flag.substr(0, equals);
    const QuotaSetting* setting = find_quota_setting(name);
    if (equals == std::string::npos || !setting)
      throw UserError("bad --quota '" + flag + "' (expected NAME=VALUE, NAME one of " +
                      join(quota_setting_names(), ", ") + ")");
    quotas[name] = check_quota_value(*setting, flag.substr(equals + 1), {"--quota " + name, ""});
  }
  return quotas;
}

int run_add(const Options& options, const std::string& path) {
  const UniqueFd lock = lock_keys_file(path);
  std::vector<KeyEntry> entries = read_keys_file(path);
  KeyEntry entry;
  entry.principal_id = options.id;
  entry.created = now_rfc3339();
  const auto existing = std::find_if(entries.begin(), entries.end(), [&](const KeyEntry& e) {
    return e.principal_id == options.id;
  });
  // A new credential of a known principal (a key rotation) takes its settings; given
  // ones must match, since every entry of one principal agrees.
  if (existing != entries.end()) {
    entry.owners = existing->owners;
    entry.role = existing->role;
    entry.quotas = existing->quotas;
  }
  const auto differs = [&](bool given, bool same, const std::string& what) {
    if (existing != entries.end() && given && !same)
      throw UserError("principal " + options.id + " already exists with other " + what +
                      "; revoke its entries first (--principal " + options.id +
                      ") or leave the option out to keep them");
  };
  if (!options.owners.empty()) {
    differs(true, options.owners == entry.owners, "owners");
    entry.owners = options.owners;
  }
  if (!options.role.empty()) {
    if (options.role != "user" && options.role != "admin")
      throw UserError("bad --role '" + options.role + "' (expected user or admin)");
    const Role role = options.role == "admin" ? Role::kAdmin : Role::kUser;
    differs(true, role == entry.role, "role");
    entry.role = role;
  }
  if (!options.quotas.empty()) {
    const auto quotas = parse_quota_flags(options.quotas);
    differs(true, quotas == entry.quotas, "quotas");
    entry.quotas = quotas;
  }
  if (entry.role == Role::kUser && entry.owners.empty())
    throw UserError("a user principal needs at least one --owner (the owner ids it acts for)");
  std::string key;
  if (!options.client_cn.empty()) {
    entry.client_cn = options.client_cn;
  } else {
    key = generate_api_key();
    entry.key_id = api_key_id(key);
    entry.hash = hash_api_key(key);
  }
  entries.push_back(entry);
  try {
    save_keys_file(path, entries);
  } catch (const UserError& error) {
    // The round trip refused the new entry (a bad id, a duplicate CN): say so plainly.
    throw UserError(std::string("cannot add this entry: ") + error.what());
  }
  const std::string what =
      key.empty() ? "client certificate CN " + entry.client_cn : "key " + entry.key_id;
  std::fprintf(stderr, "agentfense: added %s for principal %s (role %s, owners %s) to %s\n",
               what.c_str(), entry.principal_id.c_str(), to_string(entry.role),
               entry.owners.empty() ? "-" : join(entry.owners, ",").c_str(), path.c_str());
  if (!key.empty()) {
    std::fprintf(stderr,
                 "agentfense: the key is printed below and nowhere else; store it now "
                 "(clients send it as 'authorization: Bearer KEY')\n");
    std::printf("%s\n", key.c_str());
  }
  return 0;
}

int run_list(const std::string& path) {
  const std::vector<KeyEntry> entries = read_keys_file(path);
  std::printf("%-20s %-16s %-6s %-20s %-30s %s\n", "KEY", "PRINCIPAL", "ROLE", "OWNERS", "QUOTAS",
              "CREATED");
  for (const KeyEntry& entry : entries) {
    const std::string credential = entry.is_api_key() ? entry.key_id : "CN=" + entry.client_cn;
    std::printf("%-20s %-16s %-6s %-20s %-30s %s\n", credential.c_str(), entry.principal_id.c_str(),
                to_string(entry.role), entry.owners.empty() ? "-" : join(entry.owners, ",").c_str(),
                describe_quotas(entry).c_str(),
                entry.created.empty() ? "-" : entry.created.c_str());
  }
  return 0;
}

int run_revoke(const Options& options, const std::string& path) {
  const int given = !options.revoke_key.empty() + !options.revoke_principal.empty() +
                    !options.revoke_client_cn.empty();
  if (given != 1)
    throw UserError("revoke needs exactly one of KEY_ID, --principal ID or --client-cn CN");
  const UniqueFd lock = lock_keys_file(path);
  std::vector<KeyEntry> entries = read_keys_file(path);
  std::vector<KeyEntry> kept;
  for (const KeyEntry& entry : entries) {
    const bool matches =
        (!options.revoke_key.empty() && entry.is_api_key() && entry.key_id == options.revoke_key) ||
        (!options.revoke_principal.empty() && entry.principal_id == options.revoke_principal) ||
        (!options.revoke_client_cn.empty() && entry.client_cn == options.revoke_client_cn);
    if (!matches) {
      kept.push_back(entry);
      continue;
    }
    const std::string what = entry.is_api_key() ? "key " + entry.key_id : "CN " + entry.client_cn;
    std::fprintf(stderr, "agentfense: revoked %s of principal %s\n", what.c_str(),
                 entry.principal_id.c_str());
  }
  if (kept.size() == entries.size()) {
    const std::string target = !options.revoke_key.empty() ? "key " + options.revoke_key
                               : !options.revoke_principal.empty()
                                   ? "principal " + options.revoke_principal
                                   : "client CN " + options.revoke_client_cn;
    throw UserError("no " + target + " in " + path + " (see `agentfense server keys list`)");
  }
  save_keys_file(path, kept);
  std::fprintf(stderr, "agentfense: a running server refuses it within a second (it re-reads %s)\n",
               path.c_str());
  return 0;
}

}  // namespace

std::function<int()> add_keys_command(CLI::App& app, const std::string& config_file) {
  auto options = std::make_shared<Options>();
  CLI::App* keys = app.add_subcommand(
      "keys", "Manage the API keys and client certificates of auth.keys_file (add, list, revoke)");
  keys->require_subcommand(1);
  keys->add_option("--keys-file", options->keys_file,
                   "The keys file (else auth.keys_file of --config)");
  keys->add_option("--config", options->config_file,
                   "Server config whose auth.keys_file to manage");

  CLI::App* add = keys->add_subcommand(
      "add", "Add an API key (printed once on stdout) or, with --client-cn, a client certificate");
  add->fallthrough();
  add->add_option("--id", options->id, "Principal id (a new one, or a known one for a second key)")
      ->required();
  add->add_option("--owner", options->owners, "Owner id the principal acts for (repeatable)");
  add->add_option("--role", options->role, "user (default: only its owners) or admin (everything)");
  add->add_option("--quota", options->quotas,
                  "NAME=VALUE (repeatable): " + join(quota_setting_names(), ", "));
  add->add_option("--client-cn", options->client_cn,
                  "Map a client certificate with this subject CN instead of making a key");

  CLI::App* list = keys->add_subcommand("list", "List the entries (never the keys)");
  list->fallthrough();

  CLI::App* revoke = keys->add_subcommand("revoke", "Remove a key, a principal or a certificate");
  revoke->fallthrough();
  revoke->add_option("key_id", options->revoke_key, "The key id (afk_...) to revoke");
  revoke->add_option("--principal", options->revoke_principal,
                     "Revoke every entry of this principal");
  revoke->add_option("--client-cn", options->revoke_client_cn, "Revoke this certificate mapping");

  return [options, keys, add, list, revoke, &config_file]() -> int {
    if (!*keys) return -1;
    const std::string path = keys_file_of(*options, config_file);
    if (*add) return run_add(*options, path);
    if (*list) return run_list(path);
    if (*revoke) return run_revoke(*options, path);
    return 2;
  };
}

}  // namespace agentfense::server
