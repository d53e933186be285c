// The per-principal quota settings (server/principal.h PrincipalQuotas) by the names a
// config file and a keys file use: `auth.default_quotas.<name>` and `quotas: {<name>: ...}`
// on a key entry. One table, so the two places and `agentfense server keys` agree.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/config/config_values.h"
#include "server/principal.h"

namespace agentfense::server {

struct QuotaSetting {
  const char* name;  // "running_sandboxes", ...
  std::int64_t PrincipalQuotas::*member;
  bool is_size;  // written like 10GiB (stored_bytes); otherwise a whole number
};

const std::vector<QuotaSetting>& quota_settings();
const QuotaSetting* find_quota_setting(const std::string& name);
std::vector<std::string> quota_setting_names();

// The value of one quota (0 = no limit); UserError naming `origin` when malformed.
std::int64_t check_quota_value(const QuotaSetting& setting, const std::string& text,
                               const Origin& origin);

// `defaults` with every explicitly set quota replaced.
PrincipalQuotas resolve_quotas(const std::map<std::string, std::int64_t>& explicit_quotas,
                               const PrincipalQuotas& defaults);

// "16MiB" for sizes, digits otherwise: how a quota is shown and written back.
std::string format_quota(const QuotaSetting& setting, std::int64_t value);

}  // namespace agentfense::server
