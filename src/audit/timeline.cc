#include "audit/timeline.h"

#include <cstdio>
#include <ctime>
#include <regex>

#include "audit/event.h"
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

// The date and time of an RFC 3339 match (groups 1-6) name a real instant: what timegm
// makes of them reads back the same (no 2026-02-31, no 25:61:61; no leap second, which
// no trail holds).
bool real_time(const std::smatch& match) {
  std::tm fields{};
  fields.tm_year = std::stoi(match[1].str()) - 1900;
  fields.tm_mon = std::stoi(match[2].str()) - 1;
  fields.tm_mday = std::stoi(match[3].str());
  fields.tm_hour = std::stoi(match[4].str());
  fields.tm_min = std::stoi(match[5].str());
  fields.tm_sec = std::stoi(match[6].str());
  std::tm wanted = fields;
  const std::time_t at = ::timegm(&fields);
  std::tm back{};
  if (!::gmtime_r(&at, &back)) return false;
  return back.tm_year == wanted.tm_year && back.tm_mon == wanted.tm_mon &&
         back.tm_mday == wanted.tm_mday && back.tm_hour == wanted.tm_hour &&
         back.tm_min == wanted.tm_min && back.tm_sec == wanted.tm_sec;
}

std::string checked_since(const std::string& since) {
  const auto normal = normalise_rfc3339(since);
  if (!normal)
    throw FilterError("since", "'" + escape_user_text(since) +
                                   "' is not an RFC 3339 UTC time such as 2026-12-04T19:35:14Z");
  return *normal;
}

void check_op(const std::string& op) {
  std::string known;
  for (const std::string_view name : kKnownOps) {
    if (name == op) return;
    known += (known.empty() ? "" : ", ") + std::string(name);
  }
  throw FilterError("op",
                    "'" + escape_user_text(op) + "' is not an op of the trail (" + known + ")");
}

// The path filter is a literal prefix, compared as raw bytes: a name that is not UTF-8
// may come quoted as the trail writes it. A glob, "." or ".." could never match a
// trail path, so they are refused rather than answered with nothing.
std::string checked_path(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    throw FilterError("path", "'" + escape_user_text(text) + "' " + why);
  };
  std::string path;
  try {
    path = path_from_wire(text);
  } catch (const UserError& error) {
    bad(std::string("is not a path: ") + error.what());
  }
  if (path.empty() || path.front() != '/') bad("must start with '/'");
  if (path.find_first_of("*?") != std::string::npos)
    bad("is a glob: path is a path prefix (it matches that path and everything below it)");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string_view part(path.data() + start, end - start);
    if (path.size() > 1 && (part.empty() || part == "." || part == ".."))
      bad("is not a normal path (an empty, '.' or '..' part)");
    start = end + 1;
  }
  return path;
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

std::optional<std::string> normalise_rfc3339(const std::string& text) {
  static const std::regex form(
      R"((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z)");
  std::smatch match;
  if (!std::regex_match(text, match, form)) return std::nullopt;
  if (!real_time(match)) return std::nullopt;
  std::string fraction = match[7].str();
  fraction.resize(6, '0');
  return text.substr(0, 19) + "." + fraction + "Z";
}

void Filter::validate() {
  if (!since.empty()) since = checked_since(since);
  if (!kind.empty() && kind != "file" && kind != "security" && kind != "audit")
    throw FilterError("kind", "'" + escape_user_text(kind) + "' is not file, security or audit");
  if (!outcome.empty() && outcome != "allowed" && outcome != "denied")
    throw FilterError("outcome", "'" + escape_user_text(outcome) + "' is not allowed or denied");
  if (!op.empty()) check_op(op);
  if (!path.empty()) path = checked_path(path);
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
