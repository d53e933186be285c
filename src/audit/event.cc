#include "audit/event.h"

#include <cerrno>
#include <ctime>

#include "common/text_safety.h"

namespace agentfense::audit {

nlohmann::ordered_json to_fields(const Event& event) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["kind"] = event.kind;
  out["op"] = event.op;
  if (!event.command.empty()) out["cmd"] = event.command;
  // Names are arbitrary bytes and the line is JSON: a name that is not UTF-8 is written
  // quoted (path_to_wire), as the API and the commit lists carry it. Written raw, the
  // serializer replaced its bad bytes with U+FFFD and two files read as one.
  if (!event.path.empty()) out["path"] = path_to_wire(event.path);
  if (!event.path2.empty()) out["path2"] = path_to_wire(event.path2);
  if (!event.type.empty()) out["type"] = event.type;
  if (!event.level.empty()) {
    out["level"] = event.level;
    out["rule"] =
        event.rule.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(event.rule);
  }
  out["outcome"] = event.allowed ? "allowed" : "denied";
  if (!event.allowed && event.error != 0) out["errno"] = errno_name(event.error);
  if (!event.reason.empty()) out["reason"] = event.reason;
  out["count"] = event.count;
  if (event.details.is_object()) {
    for (const auto& [key, value] : event.details.items()) {
      if (!out.contains(key)) out[key] = value;
    }
  }
  return out;
}

std::string errno_name(int error) {
  switch (error) {
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case ENOENT:
      return "ENOENT";
    case EXDEV:
      return "EXDEV";
    case ENOSPC:
      return "ENOSPC";
    case EROFS:
      return "EROFS";
    case EEXIST:
      return "EEXIST";
    case ENOTSUP:
      return "ENOTSUP";
    default:
      return std::to_string(error);
  }
}

std::string format_time(std::chrono::system_clock::time_point time) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[40];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%06lldZ", static_cast<long long>(micros % 1000000));
  return text;
}

}  // namespace agentfense::audit
