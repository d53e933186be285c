#include "server/config/quota_settings.h"

#include "server/config/quantity_parse.h"

namespace agentfense::server {

const std::vector<QuotaSetting>& quota_settings() {
  static const std::vector<QuotaSetting> settings = {
      {"running_sandboxes", &PrincipalQuotas::running_sandboxes, false},
      {"sessions", &PrincipalQuotas::sessions, false},
      {"codebases", &PrincipalQuotas::codebases, false},
      {"stored_bytes", &PrincipalQuotas::stored_bytes, true},
      {"sandbox_disk_bytes", &PrincipalQuotas::sandbox_disk_bytes, true},
      {"concurrent_execs", &PrincipalQuotas::concurrent_execs, false},
      {"concurrent_follows", &PrincipalQuotas::concurrent_follows, false},
      {"requests_per_second", &PrincipalQuotas::requests_per_second, false},
      {"request_burst", &PrincipalQuotas::request_burst, false},
  };
  return settings;
}

const QuotaSetting* find_quota_setting(const std::string& name) {
  for (const QuotaSetting& setting : quota_settings())
    if (name == setting.name) return &setting;
  return nullptr;
}

std::vector<std::string> quota_setting_names() {
  std::vector<std::string> names;
  for (const QuotaSetting& setting : quota_settings()) names.emplace_back(setting.name);
  return names;
}

std::int64_t check_quota_value(const QuotaSetting& setting, const std::string& text,
                               const Origin& origin) {
  return setting.is_size ? check_size_limit(text, origin) : check_count(text, origin);
}

PrincipalQuotas resolve_quotas(const std::map<std::string, std::int64_t>& explicit_quotas,
                               const PrincipalQuotas& defaults) {
  PrincipalQuotas quotas = defaults;
  for (const auto& [name, value] : explicit_quotas)
    if (const QuotaSetting* setting = find_quota_setting(name)) quotas.*(setting->member) = value;
  return quotas;
}

std::string format_quota(const QuotaSetting& setting, std::int64_t value) {
  return setting.is_size ? format_size(value) : std::to_string(value);
}

}  // namespace agentfense::server
