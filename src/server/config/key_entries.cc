#include "server/config/key_entries.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "common/ascii_case.h"
#include "common/errors.h"
#include "server/config/config_values.h"
#include "server/config/key_entries_yaml.h"
#include "server/config/key_suggestion.h"
#include "server/config/quota_settings.h"

namespace agentfense::server {
namespace {

const std::vector<std::string> kEntryFields = {"id",     "owners", "role",      "quotas",
                                               "key_id", "hash",   "client_cn", "created"};

std::string line_of(const YAML::Node& node, const std::string& source) {
  return " in " + source + " line " + std::to_string(node.Mark().line + 1);
}

std::string scalar_of(const YAML::Node& node, const Origin& origin) {
  if (!node.IsScalar()) fail(origin.name + " must be a single value", origin);
  return node.Scalar();
}

bool printable(const std::string& text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string check_principal_id(const std::string& text, const Origin& origin) {
  const bool ok =
      !text.empty() && text.size() <= 128 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
               c == '@' || c == ':';
      });
  if (!ok)
    fail("bad value '" + text + "' for " + origin.name, origin,
         "expected 1 to 128 letters, digits and . _ - @ :");
  return text;
}

std::string check_hash(std::string text, const Origin& origin) {
  text = ascii_lower(text);
  const bool ok = text.size() == 7 + 64 && text.starts_with("sha256:") &&
                  std::all_of(text.begin() + 7, text.end(),
                              [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!ok)
    fail("bad value for " + origin.name, origin,
         "expected sha256: and 64 hex digits, as `agentfense server keys add` writes it");
  return text;
}

std::vector<std::string> owner_list(const YAML::Node& node, const Origin& origin) {
  std::vector<std::string> owners;
  if (node.IsScalar()) {
    owners.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const YAML::Node& item : node) owners.push_back(scalar_of(item, origin));
  } else {
    fail(origin.name + " must be a list of owner ids", origin);
  }
  for (const std::string& owner : owners)
    if (owner.empty() || owner.size() > 256 || !printable(owner))
      fail("bad owner id '" + owner + "' in " + origin.name, origin,
           "expected 1 to 256 printable characters");
  return owners;
}

std::map<std::string, std::int64_t> quota_map(const YAML::Node& node, const Origin& origin,
                                              const std::string& source) {
  if (!node.IsMap()) fail(origin.name + " must be a mapping of quota settings", origin);
  std::map<std::string, std::int64_t> quotas;
  for (const auto& item : node) {
    const Origin where{origin.name + "." + item.first.Scalar(), line_of(item.first, source)};
    const QuotaSetting* setting = find_quota_setting(item.first.Scalar());
    if (!setting) {
      const auto guess = suggest_key(item.first.Scalar(), quota_setting_names());
      fail("unknown quota '" + item.first.Scalar() + "' in " + origin.name, where,
           guess ? "did you mean '" + *guess + "'?" : "");
    }
    quotas[setting->name] = check_quota_value(*setting, scalar_of(item.second, where), where);
  }
  return quotas;
}

KeyEntry parse_entry(const YAML::Node& node, const std::string& name, const std::string& source) {
  const Origin self{name, line_of(node, source)};
  if (!node.IsMap()) fail(name + " must be a mapping (id, owners, role, hash or client_cn)", self);
  KeyEntry entry;
  std::set<std::string> seen;
  for (const auto& item : node) {
    const std::string field = item.first.Scalar();
    const Origin origin{name + "." + field, line_of(item.first, source)};
    if (!seen.insert(field).second) fail("duplicate key '" + origin.name + "'", origin);
    const YAML::Node& value = item.second;
    if (field == "id") {
      entry.principal_id = check_principal_id(scalar_of(value, origin), origin);
    } else if (field == "owners") {
      entry.owners = owner_list(value, origin);
    } else if (field == "role") {
      const std::string role = scalar_of(value, origin);
      if (role != "user" && role != "admin")
        fail("bad value '" + role + "' for " + origin.name, origin, "expected user or admin");
      entry.role = role == "admin" ? Role::kAdmin : Role::kUser;
    } else if (field == "quotas") {
      entry.quotas = quota_map(value, origin, source);
    } else if (field == "key_id") {
      entry.key_id = scalar_of(value, origin);
      if (!entry.key_id.starts_with("afk_") || !printable(entry.key_id))
        fail("bad value '" + entry.key_id + "' for " + origin.name, origin,
             "expected afk_ and the key's next characters");
    } else if (field == "hash") {
      entry.hash = check_hash(scalar_of(value, origin), origin);
    } else if (field == "client_cn") {
      entry.client_cn = scalar_of(value, origin);
      if (entry.client_cn.empty() || !printable(entry.client_cn))
        fail("bad value for " + origin.name, origin, "expected a certificate's subject CN");
    } else if (field == "created") {
      entry.created = scalar_of(value, origin);
    } else {
      const auto guess = suggest_key(field, kEntryFields);
      fail("unknown key '" + origin.name + "'", origin,
           guess ? "did you mean '" + name + "." + *guess + "'?" : "");
    }
  }
  if (entry.principal_id.empty()) fail(name + " has no id (the principal's name)", self);
  if (entry.hash.empty() == entry.client_cn.empty())
    fail(name + " (principal " + entry.principal_id +
             ") must have exactly one of hash (an API key) and client_cn (a client certificate)",
         self);
  if (entry.role == Role::kUser && entry.owners.empty())
    fail(name + " (principal " + entry.principal_id +
             ") is a user and needs at least one owner id in owners",
         self);
  return entry;
}

std::string describe_entry(const KeyEntry& entry) {
  if (!entry.client_cn.empty()) return "certificate CN " + entry.client_cn;
  return entry.key_id.empty() ? "key " + entry.hash.substr(0, 19) : "key " + entry.key_id;
}

}  // namespace

std::vector<KeyEntry> parse_key_entry_list(const YAML::Node& list, const std::string& name,
                                           const std::string& source) {
  if (!list.IsSequence())
    fail(name + " must be a list of key entries", {name, line_of(list, source)});
  std::vector<KeyEntry> entries;
  int index = 0;
  for (const YAML::Node& item : list)
    entries.push_back(parse_entry(item, name + "[" + std::to_string(index++) + "]", source));
  return entries;
}

Principal principal_of(const KeyEntry& entry, const PrincipalQuotas& defaults) {
  return {.id = entry.principal_id,
          .owners = entry.owners,
          .role = entry.role,
          .quotas = resolve_quotas(entry.quotas, defaults)};
}

void check_key_entries(const std::vector<KeyEntry>& entries, const std::string& source) {
  std::map<std::string, const KeyEntry*> by_credential;
  std::map<std::string, const KeyEntry*> by_principal;
  for (const KeyEntry& entry : entries) {
    const std::string credential = entry.is_api_key() ? entry.hash : "cn:" + entry.client_cn;
    if (const auto [it, fresh] = by_credential.emplace(credential, &entry); !fresh)
      throw UserError(source + ": " + describe_entry(entry) + " is listed twice (principals " +
                      it->second->principal_id + " and " + entry.principal_id + ")");
    const auto [it, fresh] = by_principal.emplace(entry.principal_id, &entry);
    if (fresh) continue;
    const KeyEntry& first = *it->second;
    if (first.owners != entry.owners || first.role != entry.role || first.quotas != entry.quotas)
      throw UserError(source + ": principal " + entry.principal_id + " has different owners, " +
                      "role or quotas in its " + describe_entry(first) + " and " +
                      describe_entry(entry) + " entries; they must agree");
  }
}

std::vector<KeyEntry> parse_keys_file(const std::string& text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw UserError("invalid YAML in keys file " + path + " line " +
                    std::to_string(error.mark.line + 1) + ": " + error.msg);
  }
  if (root.IsNull()) return {};
  if (!root.IsMap() || root.size() != 1 || !root["keys"])
    throw UserError("keys file " + path +
                    " must be a mapping with one key, keys, holding a list of entries");
  if (root["keys"].IsNull()) return {};
  std::vector<KeyEntry> entries;
  try {
    entries = parse_key_entry_list(root["keys"], "keys", "keys file " + path);
  } catch (const YAML::Exception& error) {
    throw UserError("invalid keys file " + path + " line " + std::to_string(error.mark.line + 1) +
                    ": " + error.msg);
  }
  check_key_entries(entries, "keys file " + path);
  return entries;
}

std::string render_keys_file(const std::vector<KeyEntry>& entries) {
  YAML::Emitter out;
  out << YAML::Comment(
      "AgentFense API keys and client certificates, managed with `agentfense server keys`.\n"
      "Each key is stored only as its SHA-256; the key itself was shown once, when added.");
  out << YAML::BeginMap << YAML::Key << "keys" << YAML::Value << YAML::BeginSeq;
  for (const KeyEntry& entry : entries) {
    out << YAML::BeginMap;
    out << YAML::Key << "id" << YAML::Value << entry.principal_id;
    out << YAML::Key << "owners" << YAML::Value << YAML::Flow << entry.owners;
    out << YAML::Key << "role" << YAML::Value << to_string(entry.role);
    if (!entry.quotas.empty()) {
      out << YAML::Key << "quotas" << YAML::Value << YAML::Flow << YAML::BeginMap;
      for (const auto& [name, value] : entry.quotas)
        out << YAML::Key << name << YAML::Value << format_quota(*find_quota_setting(name), value);
      out << YAML::EndMap;
    }
    if (!entry.key_id.empty()) out << YAML::Key << "key_id" << YAML::Value << entry.key_id;
    if (!entry.hash.empty()) out << YAML::Key << "hash" << YAML::Value << entry.hash;
    if (!entry.client_cn.empty())
      out << YAML::Key << "client_cn" << YAML::Value << YAML::DoubleQuoted << entry.client_cn;
    if (!entry.created.empty()) out << YAML::Key << "created" << YAML::Value << entry.created;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace agentfense::server
