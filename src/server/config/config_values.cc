#include "server/config/config_values.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/errors.h"
#include "server/config/address_syntax.h"
#include "server/config/quantity_parse.h"

namespace agentfense::server {
namespace {

[[noreturn]] void bad_value(const std::string& text, const Origin& origin,
                            const std::string& expected) {
  fail("bad value '" + text + "' for " + origin.name, origin, "expected " + expected);
}

constexpr const char* kDurationHint = "a duration such as 500ms, 30s, 5m, 1h30m or whole seconds";

}  // namespace

void fail(const std::string& subject, const Origin& origin, const std::string& hint) {
  throw UserError(subject + origin.where + (hint.empty() ? "" : " (" + hint + ")"));
}

std::string check_address(const std::string& text, const Origin& origin) {
  if (!is_listen_address(text)) bad_value(text, origin, "host:port or :port, port 0..65535");
  return text;
}

std::string check_absolute_path(const std::string& text, const Origin& origin) {
  if (!text.starts_with('/'))
    fail("relative path '" + text + "' for " + origin.name, origin,
         "storage paths must be absolute");
  std::string normal = std::filesystem::path(text).lexically_normal().string();
  if (normal.size() > 1 && normal.ends_with('/')) normal.pop_back();
  return normal;
}

milliseconds check_duration(const std::string& text, const Origin& origin) {
  const std::optional<milliseconds> duration = parse_duration(text);
  if (!duration) bad_value(text, origin, kDurationHint);
  return *duration;
}

milliseconds check_positive_duration(const std::string& text, const Origin& origin) {
  const std::optional<milliseconds> duration = parse_duration(text);
  if (!duration || duration->count() == 0)
    bad_value(text, origin, std::string("a positive ") + kDurationHint);
  return *duration;
}

std::int64_t check_positive_size(const std::string& text, const Origin& origin) {
  const std::optional<std::int64_t> size = parse_size(text);
  if (!size || *size == 0)
    bad_value(text, origin, "a positive size such as 16MiB, 512M, 1G or bytes");
  return *size;
}

std::int64_t check_output_limit(const std::string& text, const Origin& origin) {
  constexpr std::int64_t kMaxOutputLimit = std::int64_t{16} << 20;
  const std::optional<std::int64_t> size = parse_size(text);
  if (!size || *size == 0 || *size > kMaxOutputLimit)
    bad_value(text, origin, "a positive size of at most 16MiB: a command's result is one message");
  return *size;
}

std::int64_t check_size_limit(const std::string& text, const Origin& origin) {
  const std::optional<std::int64_t> size = parse_size(text);
  if (!size) bad_value(text, origin, "a size such as 10GiB, 512M or bytes, or 0 for no limit");
  return *size;
}

std::int64_t check_count(const std::string& text, const Origin& origin) {
  // Reuse the size parser's digit reader: a count is a size without a unit.
  const bool digits_only = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  const std::optional<std::int64_t> count = digits_only ? parse_size(text) : std::nullopt;
  if (!count) bad_value(text, origin, "a whole number, 0 or more");
  return *count;
}

bool check_bool(const std::string& text, const Origin& origin) {
  if (text == "true") return true;
  if (text == "false") return false;
  bad_value(text, origin, "true or false");
}

IdRange check_id_range(const std::string& text, const Origin& origin) {
  try {
    return parse_id_range(text);
  } catch (const UserError&) {
    bad_value(text, origin, "FIRST-LAST host ids, 1 <= FIRST <= LAST <= 4294967294");
  }
}

std::string check_non_empty(const std::string& text, const Origin& origin) {
  if (text.empty()) bad_value(text, origin, "a non-empty string");
  return text;
}

std::string check_docker_host(const std::string& text, const Origin& origin) {
  // The docker runtime speaks the Engine API over a unix socket only.
  if (!text.starts_with("unix:///")) bad_value(text, origin, "unix:///path/to/docker.sock");
  return text;
}

std::string check_network_mode(const std::string& text, const Origin& origin) {
  // A sandbox never shares a namespace of the host or of another container.
  if (text.empty() || text == "host" || text.starts_with("container:"))
    bad_value(text, origin,
              "none, bridge or the name of a Docker network (not host or container:)");
  return text;
}

RuntimeKind check_runtime_type(const std::string& text, const Origin& origin) {
  if (text == "bwrap") return RuntimeKind::kBwrap;
  if (text == "docker") return RuntimeKind::kDocker;
  bad_value(text, origin, "bwrap or docker");
}

log::Level check_log_level(const std::string& text, const Origin& origin) {
  const std::optional<log::Level> level = log::parse_level(text);
  if (!level) bad_value(text, origin, "debug, info, warn or error");
  return *level;
}

log::Format check_log_format(const std::string& text, const Origin& origin) {
  const std::optional<log::Format> format = log::parse_format(text);
  if (!format) bad_value(text, origin, "text or json");
  return *format;
}

}  // namespace agentfense::server
