// Reading a trail for people: filters shared by the CLI and the server's query, and one
// readable line per event.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/errors.h"

namespace agentfense::audit {

// A filter value that could never match (an op typo, a glob, an impossible time): the
// answer would be empty, which reads as "the agent did not do that". field() names the
// parameter; what() is "field: why".
class FilterError : public UserError {
 public:
  FilterError(std::string field, const std::string& why)
      : UserError(field + ": " + why), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

struct Filter {
  std::string since;    // RFC 3339 UTC; events at or after it (string order of "ts")
  std::string kind;     // "file" | "security" | "audit"; empty: all
  std::string outcome;  // "allowed" | "denied"; empty: all
  std::string path;     // raw bytes; matches it and everything below it (path or path2)
  std::string op;       // empty: all
  // Checks every field against what a trail can hold and puts since and path in the
  // trail's form (since with microseconds; path unquoted, without a trailing '/').
  // Throws FilterError naming the field and the bad value.
  void validate();
  bool matches(const nlohmann::json& event) const;
};

// "2026-12-04T19:35:14Z", "...14.5Z", "...14.123456Z" -> "2026-12-04T19:35:14.000000Z"
// (the trail's form, which sorts as text); nullopt when not an RFC 3339 UTC time of a
// real date (2026-02-31 or 25:61 are refused).
std::optional<std::string> normalise_rfc3339(const std::string& text);

// "10:11:12.123456 DENIED  lookup     /.env  (hidden, ENOENT; none by \"**/.env* none\")"
std::string format_event(const nlohmann::json& event);

}  // namespace agentfense::audit
