#include "audit/timeline.h"

#include <cstdio>

#include "common/errors.h"
#include "common/text_safety.h"
#include "common/user_text.h"

namespace agentfense::audit {
namespace {

std::string text_of(const nlohmann::json& event, const char* key) {
  if (!event.contains(key)) return {};
  const auto& value = event[key];
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// What a reviewer's terminal shows of an event. File names and command lines are the
// agent's: raw, one name could erase the line above it (CSI 1A, CSI 2K), reorder what
// follows (bidi controls) or add a forged event on a line of its own. Paths are quoted
// as git quotes them (as in the change review), other text escaped onto one line.
std::string shown(const std::string& text) {
  return escape_user_text(text);
}
// A value that is not a string, as JSON (its strings already escaped, but not U+202E).
std::string shown(const nlohmann::json& value) {
  return value.is_string() ? shown(value.get<std::string>())
                           : escape_text(value.dump(), {.escape_backslash = false});
}

bool under(const std::string& path, const std::string& prefix) {
  if (path.empty()) return false;
  if (prefix == "/" || path == prefix) return true;
  return path.size() > prefix.size() && path.starts_with(prefix) && path[prefix.size()] == '/';
}

// A trail path field (quoted as git quotes it when not UTF-8) against a raw prefix:
// compared as the bytes the agent named, else a quoted name never matched its directory.
bool wire_path_under(const std::string& wire, const std::string& prefix) {
  try {
    return under(path_from_wire(wire), prefix);
  } catch (const UserError&) {
    return under(wire, prefix);  // a malformed quote: not ours to reject here
  }
}

// The security event's own fields, as key=value, in the order written.
std::string extra_fields(const nlohmann::json& event) {
  static const char* const kStandard[] = {"v",       "seq",   "ts",     "sandbox", "kind",  "op",
                                          "cmd",     "path",  "path2",  "type",    "level", "rule",
                                          "outcome", "errno", "reason", "count",   "prev",  "hash"};
  std::string out;
  for (const auto& [key, value] : event.items()) {
    bool standard = false;
    for (const char* name : kStandard) standard = standard || key == name;
    if (standard) continue;
    out += " " + shown(key) + "=" + shown(value);
  }
  return out;
}

}  // namespace

void Filter::validate() const {
  if (!kind.empty() && kind != "file" && kind != "security" && kind != "audit") {
    throw UserError("kind must be file, security or audit, got '" + kind + "'");
  }
  if (!outcome.empty() && outcome != "allowed" && outcome != "denied") {
    throw UserError("outcome must be allowed or denied, got '" + outcome + "'");
  }
  if (!path.empty() && path[0] != '/') {
    throw UserError("path must start with '/', got '" + path + "'");
  }
}

bool Filter::matches(const nlohmann::json& event) const {
  if (!event.is_object()) return false;
  if (!since.empty() && text_of(event, "ts") < since) return false;
  if (!kind.empty() && text_of(event, "kind") != kind) return false;
  if (!outcome.empty() && text_of(event, "outcome") != outcome) return false;
  if (!op.empty() && text_of(event, "op") != op) return false;
  if (!path.empty() && !wire_path_under(text_of(event, "path"), path) &&
      !wire_path_under(text_of(event, "path2"), path)) {
    return false;
  }
  return true;
}

std::string format_event(const nlohmann::json& event) {
  std::string ts = text_of(event, "ts");
  // Keep the time of day; the date is in the first line a reader looks at anyway.
  if (ts.size() > 11 && ts[10] == 'T') ts = ts.substr(11);
  const std::string outcome = text_of(event, "outcome") == "denied" ? "DENIED " : "allowed";
  const std::string kind = text_of(event, "kind");
  char head[160];
  std::snprintf(head, sizeof head, "%-16s %s %-9s %-13s", shown(ts).c_str(), outcome.c_str(),
                shown(kind).c_str(), shown(text_of(event, "op")).c_str());
  std::string line = head;
  const std::string path = text_of(event, "path");
  if (!path.empty()) line += " " + quote_path(path_from_wire(path));
  if (const std::string to = text_of(event, "path2"); !to.empty())
    line += " -> " + quote_path(path_from_wire(to));
  std::string why;
  if (const std::string reason = text_of(event, "reason"); !reason.empty()) why += reason;
  if (const std::string err = text_of(event, "errno"); !err.empty()) {
    why += (why.empty() ? "" : ", ") + err;
  }
  if (const std::string level = text_of(event, "level"); !level.empty()) {
    const std::string rule = text_of(event, "rule");
    why += (why.empty() ? "" : "; ") + level +
           (rule.empty() || rule == "null" ? " (no rule matched)" : " by \"" + rule + "\"");
  }
  if (!why.empty()) line += "  (" + shown(why) + ")";
  if (event.contains("count") && event["count"].is_number() && event["count"] != 1) {
    line += "  x" + event["count"].dump();
  }
  line += extra_fields(event);
  return line;
}

}  // namespace agentfense::audit
