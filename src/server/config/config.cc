#include "server/config/config.h"

#include "common/errors.h"
#include "server/config/address_syntax.h"
#include "server/config/auth_settings.h"
#include "server/config/config_values.h"
#include "server/config/quantity_parse.h"
#include "server/config/quota_settings.h"

namespace agentfense::server {

void derive_storage_paths(Config::Storage& storage) {
  const std::string& root = storage.data_dir;
  if (!storage.codebase_path_explicit) storage.codebase_path = root + "/codebases";
  if (!storage.db_path_explicit) storage.db_path = root + "/agentfense.db";
  if (!storage.mount_path_explicit)
    storage.mount_path = root == kDefaultDataDir ? std::string(kDefaultMountPath) : root + "/run";
}

namespace {

void check_listeners_differ(const Config& config) {
  if (listen_addresses_clash(config.server.grpc_addr, config.server.http_addr))
    throw UserError("server.grpc_addr '" + config.server.grpc_addr + "' and server.http_addr '" +
                    config.server.http_addr +
                    "' are one socket: the gRPC and REST listeners need different ports");
}

}  // namespace

void apply_overrides(Config& target, const Overrides& overrides) {
  // Work on a copy so a bad flag leaves the caller's Config untouched.
  Config config = target;
  if (overrides.grpc_addr)
    config.server.grpc_addr = check_address(*overrides.grpc_addr, {"--grpc-addr", ""});
  if (overrides.http_addr)
    config.server.http_addr = check_address(*overrides.http_addr, {"--http-addr", ""});
  if (overrides.data_dir) {
    config.storage.data_dir = check_absolute_path(*overrides.data_dir, {"--data-dir", ""});
    derive_storage_paths(config.storage);
  }
  if (overrides.log_level)
    config.logging.level = check_log_level(*overrides.log_level, {"--log-level", ""});
  if (overrides.log_format)
    config.logging.format = check_log_format(*overrides.log_format, {"--log-format", ""});
  check_listeners_differ(config);
  target = std::move(config);
}

std::string_view to_string(RuntimeKind kind) {
  return kind == RuntimeKind::kDocker ? "docker" : "bwrap";
}

log::Fields describe_fields(const Config& config) {
  log::Fields fields = log::Fields::object();
  fields["config_file"] = config.source.empty() ? "(defaults)" : config.source;
  fields["server.grpc_addr"] = config.server.grpc_addr;
  fields["server.http_addr"] = config.server.http_addr;
  fields["server.tls.cert"] = config.server.tls.cert;
  fields["server.tls.key"] = config.server.tls.key;
  fields["server.tls.client_ca"] = config.server.tls.client_ca;
  fields["server.allowed_hosts"] = config.server.allowed_hosts;
  fields["server.allowed_origins"] = config.server.allowed_origins;
  fields["storage.data_dir"] = config.storage.data_dir;
  fields["storage.codebase_path"] = config.storage.codebase_path;
  fields["storage.db_path"] = config.storage.db_path;
  fields["storage.mount_path"] = config.storage.mount_path;
  fields["storage.import_roots"] = config.storage.import_roots;
  fields["storage.max_upload_bytes"] = format_size(config.storage.max_upload_bytes);
  fields["storage.max_codebase_bytes"] = format_size(config.storage.max_codebase_bytes);
  fields["storage.max_archive_bytes"] = format_size(config.storage.max_archive_bytes);
  fields["storage.max_archive_entries"] = config.storage.max_archive_entries;
  fields["storage.max_archive_ratio"] = config.storage.max_archive_ratio;
  fields["runtime.type"] = to_string(config.runtime.type);
  fields["runtime.default_timeout"] = format_duration(config.runtime.default_timeout);
  fields["runtime.max_timeout"] = format_duration(config.runtime.max_timeout);
  fields["runtime.output_limit"] = format_size(config.runtime.output_limit);
  fields["runtime.docker.host"] = config.runtime.docker.host;
  fields["runtime.docker.default_image"] = config.runtime.docker.default_image;
  fields["runtime.docker.network_mode"] = config.runtime.docker.network_mode;
  fields["runtime.docker.enable_networking"] = config.runtime.docker.enable_networking;
  fields["sandbox.default_expiration"] = format_duration(config.sandbox.default_expiration);
  fields["sandbox.max_per_user"] = config.sandbox.max_per_user;
  fields["sandbox.max_sessions_per_sandbox"] = config.sandbox.max_sessions_per_sandbox;
  fields["sandbox.cleanup_interval"] = format_duration(config.sandbox.cleanup_interval);
  fields["sandbox.disk_bytes"] = format_size(config.sandbox.disk_bytes);
  fields["sandbox.disk_inodes"] = config.sandbox.disk_inodes;
  fields["sandbox.pids_limit"] = config.sandbox.pids_limit;
  fields["sandbox.memory_bytes"] = format_size(config.sandbox.memory_bytes);
  fields["sandbox.uid_range"] = to_string(config.sandbox.uid_range);
  fields["sandbox.prewarm"] = config.sandbox.prewarm;
  // The keys themselves are only ever hashes; the log shows how many entries, not them.
  fields["auth.mode"] = describe_auth_mode(config);
  fields["auth.keys_file"] = config.auth.keys_file;
  fields["auth.keys"] = std::to_string(config.auth.keys.size()) + " entries";
  for (const QuotaSetting& quota : quota_settings())
    fields[std::string("auth.default_quotas.") + quota.name] =
        format_quota(quota, config.auth.default_quotas.*(quota.member));
  fields["audit.retention"] = format_duration(config.audit.retention);
  fields["audit.max_bytes"] = format_size(config.audit.max_bytes);
  fields["audit.max_sandbox_bytes"] = format_size(config.audit.max_sandbox_bytes);
  fields["audit.max_follows"] = config.audit.max_follows;
  fields["logging.level"] = log::to_string(config.logging.level);
  fields["logging.format"] = log::to_string(config.logging.format);
  return fields;
}

std::string describe(const Config& config) {
  return describe_fields(config).dump(-1, ' ', false, log::Fields::error_handler_t::replace);
}

}  // namespace agentfense::server
