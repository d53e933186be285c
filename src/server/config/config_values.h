// Validation of single config values, shared by the YAML loader and the command-line
// overrides so a bad value reads the same wherever it came from. Each check returns the
// typed value or throws UserError "bad value '<text>' for <name><where> (<expected>)".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/log.h"
#include "server/config/config.h"

namespace agentfense::server {

// Names a value in error messages: name is "runtime.max_timeout" or "--data-dir";
// where is " in /etc/x.yaml line 7" for a file and empty for a flag.
struct Origin {
  std::string name;
  std::string where;
};

// Throws UserError("<subject><where>[ (<hint>)]").
[[noreturn]] void fail(const std::string& subject, const Origin& origin,
                       const std::string& hint = {});

std::string check_address(const std::string& text, const Origin& origin);
// Absolute, lexically normalised, without a trailing '/'.
std::string check_absolute_path(const std::string& text, const Origin& origin);
// Any duration, including 0.
milliseconds check_duration(const std::string& text, const Origin& origin);
milliseconds check_positive_duration(const std::string& text, const Origin& origin);
std::int64_t check_positive_size(const std::string& text, const Origin& origin);
// A positive size of at most 16 MiB: a command's result, both streams full (and sent
// twice when not UTF-8: sandbox_service_exec.cc), must fit one 64 MiB gRPC message.
std::int64_t check_output_limit(const std::string& text, const Origin& origin);
std::int64_t check_size_limit(const std::string& text, const Origin& origin);  // 0 = no limit
std::int64_t check_count(const std::string& text, const Origin& origin);       // >= 0
bool check_bool(const std::string& text, const Origin& origin);
IdRange check_id_range(const std::string& text, const Origin& origin);
std::string check_non_empty(const std::string& text, const Origin& origin);
std::string check_docker_host(const std::string& text, const Origin& origin);
std::string check_network_mode(const std::string& text, const Origin& origin);
RuntimeKind check_runtime_type(const std::string& text, const Origin& origin);
log::Level check_log_level(const std::string& text, const Origin& origin);
log::Format check_log_format(const std::string& text, const Origin& origin);

}  // namespace agentfense::server
