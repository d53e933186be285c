// load_config(): walks the YAML document against the table of known keys below, so the
// set of keys, their types and their checks live in one place.
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "server/config/config.h"
#include "server/config/config_values.h"
#include "server/config/key_entries_yaml.h"
#include "server/config/key_suggestion.h"
#include "server/config/quantity_parse.h"
#include "server/config/quota_settings.h"

namespace agentfense::server {
namespace {

const std::set<std::string> kSections = {
    "server", "server.tls",          "storage", "runtime", "runtime.docker", "sandbox", "logging",
    "auth",   "auth.default_quotas", "audit"};
constexpr const char* kQuotaPrefix = "auth.default_quotas.";

std::string kind_of(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "nothing";
  return "a single value";
}

std::string scalar(const YAML::Node& node, const Origin& origin) {
  if (!node.IsScalar())
    fail(origin.name + " must be a single value", origin, "got " + kind_of(node));
  return node.Scalar();
}

std::vector<std::string> path_list(const YAML::Node& node, const Origin& origin) {
  if (!node.IsSequence())
    fail(origin.name + " must be a list of paths", origin, "got " + kind_of(node));
  std::vector<std::string> paths;
  for (const YAML::Node& item : node)
    paths.push_back(check_absolute_path(scalar(item, origin), origin));
  return paths;
}

std::vector<std::string> name_list(const YAML::Node& node, const Origin& origin) {
  if (!node.IsSequence())
    fail(origin.name + " must be a list of names", origin, "got " + kind_of(node));
  std::vector<std::string> names;
  for (const YAML::Node& item : node) {
    const std::string name = scalar(item, origin);
    if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos)
      fail("bad value '" + name + "' for " + origin.name, origin,
           "expected a host name, an origin such as https://app.example.com, or *");
    names.push_back(name);
  }
  return names;
}

struct Leaf {
  const char* key;
  void (*apply)(Config& config, const YAML::Node& value, const Origin& origin);
};

// In the order describe_fields() reports them.
const Leaf kLeaves[] = {
    {"server.grpc_addr",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.server.grpc_addr = check_address(scalar(v, o), o);
     }},
    {"server.http_addr",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.server.http_addr = check_address(scalar(v, o), o);
     }},
    {"server.tls.cert",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.server.tls.cert = check_absolute_path(scalar(v, o), o);
     }},
    {"server.tls.key",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.server.tls.key = check_absolute_path(scalar(v, o), o);
     }},
    {"server.tls.client_ca",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.server.tls.client_ca = check_absolute_path(scalar(v, o), o);
     }},
    {"server.allowed_hosts", [](Config& c, const YAML::Node& v,
                                const Origin& o) { c.server.allowed_hosts = name_list(v, o); }},
    {"server.allowed_origins", [](Config& c, const YAML::Node& v,
                                  const Origin& o) { c.server.allowed_origins = name_list(v, o); }},
    {"storage.data_dir",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.data_dir = check_absolute_path(scalar(v, o), o);
     }},
    {"storage.codebase_path",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.codebase_path = check_absolute_path(scalar(v, o), o);
       c.storage.codebase_path_explicit = true;
     }},
    {"storage.db_path",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.db_path = check_absolute_path(scalar(v, o), o);
       c.storage.db_path_explicit = true;
     }},
    {"storage.mount_path",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.mount_path = check_absolute_path(scalar(v, o), o);
       c.storage.mount_path_explicit = true;
     }},
    {"storage.import_roots", [](Config& c, const YAML::Node& v,
                                const Origin& o) { c.storage.import_roots = path_list(v, o); }},
    {"storage.max_upload_bytes",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.max_upload_bytes = check_size_limit(scalar(v, o), o);
     }},
    {"storage.max_codebase_bytes",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.max_codebase_bytes = check_size_limit(scalar(v, o), o);
     }},
    {"storage.max_archive_bytes",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.max_archive_bytes = check_size_limit(scalar(v, o), o);
     }},
    {"storage.max_archive_entries",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.max_archive_entries = check_count(scalar(v, o), o);
     }},
    {"storage.max_archive_ratio",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.storage.max_archive_ratio = check_count(scalar(v, o), o);
     }},
    {"runtime.type", [](Config& c, const YAML::Node& v,
                        const Origin& o) { c.runtime.type = check_runtime_type(scalar(v, o), o); }},
    {"runtime.default_timeout",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.default_timeout = check_positive_duration(scalar(v, o), o);
     }},
    {"runtime.max_timeout",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.max_timeout = check_positive_duration(scalar(v, o), o);
     }},
    {"runtime.output_limit",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.output_limit = check_output_limit(scalar(v, o), o);
     }},
    {"runtime.docker.host",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.docker.host = check_docker_host(scalar(v, o), o);
     }},
    {"runtime.docker.default_image",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.docker.default_image = check_non_empty(scalar(v, o), o);
     }},
    {"runtime.docker.network_mode",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.docker.network_mode = check_network_mode(scalar(v, o), o);
     }},
    {"runtime.docker.enable_networking",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.runtime.docker.enable_networking = check_bool(scalar(v, o), o);
     }},
    {"sandbox.default_expiration",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.default_expiration = check_duration(scalar(v, o), o);
     }},
    {"sandbox.max_per_user",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.max_per_user = check_count(scalar(v, o), o);
     }},
    {"sandbox.uid_range",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.uid_range = check_id_range(scalar(v, o), o);
     }},
    {"sandbox.max_sessions_per_sandbox",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.max_sessions_per_sandbox = check_count(scalar(v, o), o);
     }},
    {"sandbox.prewarm",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.prewarm = check_bool(scalar(v, o), o);
     }},
    {"sandbox.cleanup_interval",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.cleanup_interval = check_positive_duration(scalar(v, o), o);
     }},
    {"sandbox.disk_bytes",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.disk_bytes = check_size_limit(scalar(v, o), o);
     }},
    {"sandbox.disk_inodes",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.disk_inodes = check_count(scalar(v, o), o);
     }},
    {"sandbox.pids_limit",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.pids_limit = check_count(scalar(v, o), o);
     }},
    {"sandbox.memory_bytes",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.sandbox.memory_bytes = check_size_limit(scalar(v, o), o);
     }},
    {"auth.mode",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       const std::string mode = scalar(v, o);
       if (mode != "none" && mode != "required")
         fail("bad value '" + mode + "' for " + o.name, o, "expected none or required");
       c.auth.mode = mode == "none" ? AuthMode::kNone : AuthMode::kRequired;
     }},
    {"auth.keys_file",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       c.auth.keys_file = check_absolute_path(scalar(v, o), o);
     }},
    {"audit.retention",
     [](Config& c, const YAML::Node& v, const Origin& o) {
       // Whole days ("90d") on top of the usual duration syntax: retention is counted in days.
       const std::string text = scalar(v, o);
       if (text.size() > 1 && text.back() == 'd' &&
           text.find_first_not_of("0123456789") == text.size() - 1) {
         const std::int64_t days = std::stoll(text.substr(0, text.size() - 1));
         if (days > 100'000) fail("bad value '" + text + "' for " + o.name, o, "at most 100000d");
         c.audit.retention = std::chrono::hours(24 * days);
       } else {
         c.audit.retention = check_duration(text, o);
       }
     }},
    {"audit.max_bytes",
     [](Config& c, const YAML::Node& v,
        const Origin& o) { c.audit.max_bytes = check_size_limit(scalar(v, o), o); }},
    {"audit.max_sandbox_bytes",
     [](Config& c, const YAML::Node& v,
        const Origin& o) { c.audit.max_sandbox_bytes = check_size_limit(scalar(v, o), o); }},
    {"audit.max_follows",
     [](Config& c, const YAML::Node& v,
        const Origin& o) { c.audit.max_follows = check_count(scalar(v, o), o); }},
    {"logging.level", [](Config& c, const YAML::Node& v,
                         const Origin& o) { c.logging.level = check_log_level(scalar(v, o), o); }},
    {"logging.format",
     [](Config& c, const YAML::Node& v,
        const Origin& o) { c.logging.format = check_log_format(scalar(v, o), o); }},
};

const Leaf* find_leaf(const std::string& key) {
  for (const Leaf& leaf : kLeaves) {
    if (key == leaf.key) return &leaf;
  }
  return nullptr;
}

std::vector<std::string> known_keys() {
  std::vector<std::string> keys(kSections.begin(), kSections.end());
  for (const Leaf& leaf : kLeaves) keys.emplace_back(leaf.key);
  keys.emplace_back("auth.keys");
  for (const std::string& name : quota_setting_names()) keys.push_back(kQuotaPrefix + name);
  return keys;
}

class Loader {
 public:
  Loader(Config& config, std::string source) : config_(config), source_(std::move(source)) {}

  void walk(const YAML::Node& map, const std::string& prefix) {
    std::set<std::string> seen;
    for (const auto& item : map) {
      const std::string where =
          " in " + source_ + " line " + std::to_string(item.first.Mark().line + 1);
      if (!item.first.IsScalar())
        fail("keys must be plain names", {"", where}, "got " + kind_of(item.first));
      const std::string key = (prefix.empty() ? "" : prefix + ".") + item.first.Scalar();
      const Origin origin{key, where};
      if (!seen.insert(key).second) fail("duplicate key '" + key + "'", origin);
      lines_[key] = origin.where;
      const YAML::Node& value = item.second;
      if (kSections.contains(key)) {
        // "server:" with nothing under it is an empty section, not an error.
        if (value.IsNull()) continue;
        if (!value.IsMap())
          fail(key + " must be a mapping of settings", origin, "got " + kind_of(value));
        walk(value, key);
      } else if (const Leaf* leaf = find_leaf(key)) {
        if (value.IsNull()) fail(key + " has no value", origin);
        leaf->apply(config_, value, origin);
      } else if (key == "auth.keys") {
        if (value.IsNull()) continue;  // an empty list
        config_.auth.keys = parse_key_entry_list(value, key, source_);
        check_key_entries(config_.auth.keys, "auth.keys in " + source_);
      } else if (const QuotaSetting* quota =
                     key.starts_with(kQuotaPrefix)
                         ? find_quota_setting(key.substr(std::string_view(kQuotaPrefix).size()))
                         : nullptr) {
        if (value.IsNull()) fail(key + " has no value", origin);
        config_.auth.default_quotas.*(quota->member) =
            check_quota_value(*quota, scalar(value, origin), origin);
      } else {
        const std::optional<std::string> guess = suggest_key(key, known_keys());
        fail("unknown key '" + key + "'", origin, guess ? "did you mean '" + *guess + "'?" : "");
      }
    }
  }

  void check_consistency() const {
    const Config::Runtime& runtime = config_.runtime;
    if (runtime.max_timeout < runtime.default_timeout) {
      const std::string key = lines_.contains("runtime.max_timeout") ? "runtime.max_timeout"
                                                                     : "runtime.default_timeout";
      fail("runtime.max_timeout (" + format_duration(runtime.max_timeout) +
               ") is shorter than runtime.default_timeout (" +
               format_duration(runtime.default_timeout) + ")",
           Origin{key, lines_.at(key)});
    }
  }

 private:
  Config& config_;
  std::string source_;
  std::map<std::string, std::string> lines_;  // key -> " in <file> line <n>"
};

std::string read_file(const std::string& path) {
  const auto fail_read = [&path] {
    throw UserError("cannot read config file " + path + ": " + std::strerror(errno));
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail_read();
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_read();  // EISDIR for a directory lands here
    if (got == 0) return text;
    text.append(buffer, static_cast<size_t>(got));
  }
}

}  // namespace

Config load_config(const std::string& path) {
  Config config;
  if (path.empty()) return config;
  config.source = path;
  const std::string text = read_file(path);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw UserError("invalid YAML in " + path + " line " + std::to_string(error.mark.line + 1) +
                    ": " + error.msg);
  }
  if (root.IsNull()) return config;  // an empty file (or only comments) means defaults
  if (!root.IsMap())
    throw UserError("config file " + path +
                    " must be a mapping of sections: server, storage, runtime, sandbox, auth, "
                    "logging, audit (got " +
                    kind_of(root) + ")");
  Loader loader(config, path);
  try {
    loader.walk(root, "");
  } catch (const YAML::Exception& error) {
    throw UserError("invalid config in " + path + " line " + std::to_string(error.mark.line + 1) +
                    ": " + error.msg);
  }
  loader.check_consistency();
  derive_storage_paths(config.storage);
  return config;
}

}  // namespace agentfense::server
