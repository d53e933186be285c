// Reading a trail for people: filters shared by the CLI and the server's query, and one
// readable line per event.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace agentfense::audit {

struct Filter {
  std::string since;    // RFC 3339 text; events at or after it (string order of "ts")
  std::string kind;     // "file" | "security" | "audit"; empty: all
  std::string outcome;  // "allowed" | "denied"; empty: all
  std::string path;     // raw bytes; matches it and everything below it (path or path2)
  std::string op;       // empty: all
  // Throws UserError naming the bad value.
  void validate() const;
  bool matches(const nlohmann::json& event) const;
};

// "10:11:12.123456 DENIED  lookup     /.env  (hidden, ENOENT; none by \"**/.env* none\")"
std::string format_event(const nlohmann::json& event);

}  // namespace agentfense::audit
