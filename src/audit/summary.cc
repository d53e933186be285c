#include "audit/summary.h"

#include "common/text_safety.h"
#include "common/user_text.h"

namespace agentfense::audit {
namespace {

bool is_change(const std::string& op) {
  return op == "open_write" || op == "create" || op == "unlink" || op == "rename" || op == "link" ||
         op == "symlink" || op == "setattr" || op == "setxattr" || op == "removexattr";
}

nlohmann::ordered_json uses_to_json(const auto& uses) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [path, use] : uses) {
    out.push_back({{"path", path}, {"ops", use.ops}, {"count", use.count}});
  }
  return out;
}

std::string str(const nlohmann::json& event, const char* key) {
  return event.contains(key) && event[key].is_string() ? event[key].get<std::string>() : "";
}

}  // namespace

void Summary::Uses::note(const std::string& path, const std::string& op, std::uint64_t count) {
  auto it = by_path.find(path);
  if (it == by_path.end()) {
    if (by_path.size() >= kMaxListedPaths || path_bytes + path.size() > kMaxListedPathBytes) {
      omitted += count;
      return;
    }
    it = by_path.emplace(path, PathUse{}).first;
    path_bytes += path.size();
  }
  it->second.ops.insert(op);
  it->second.count += count;
}

void Summary::add(const nlohmann::json& event) {
  if (!event.is_object()) return;
  ++events_;
  const std::string ts = str(event, "ts");
  if (first_.empty()) first_ = ts;
  last_ = ts;
  const std::string kind = str(event, "kind");
  const std::string op = str(event, "op");
  const std::uint64_t count = event.value("count", std::uint64_t{1});
  if (kind == "audit" && op == "events_dropped") dropped_ += count;
  if (kind == "security" && (op == "exec" || op == "session_exec")) note_command(event, op);
  if (kind != "file") return;
  const std::string path = str(event, "path");
  if (str(event, "outcome") == "denied") {
    denied_.note(path, op, count);
    return;
  }
  if (op == "open_read" || op == "exec") {
    read_.note(path, op, count);
  } else if (is_change(op)) {
    written_.note(path, op, count);
    if (const std::string to = str(event, "path2"); !to.empty()) written_.note(to, op, count);
  }
}

void Summary::note_command(const nlohmann::json& event, const std::string& op) {
  const std::string text = str(event, "command");
  const std::string kept(utf8_prefix(text, kMaxCommandTextBytes));
  if (commands_.size() >= kMaxListedCommands ||
      command_bytes_ + kept.size() > kMaxListedCommandBytes) {
    ++commands_omitted_;
    return;
  }
  nlohmann::ordered_json command = {{"op", op}};
  for (const char* key : {"cmd", "command", "exit_code", "duration_ms", "timed_out", "oom_killed",
                          "pids_limit_reached", "caller"}) {
    if (event.contains(key)) command[key] = event[key];
  }
  if (kept.size() < text.size()) {
    // A reviewer sees that the text was cut and how long it was; the trail has all of it.
    command["command"] = kept;
    command["command_bytes"] = text.size();
  }
  command_bytes_ += kept.size();
  commands_.push_back(std::move(command));
}

nlohmann::ordered_json Summary::to_json() const {
  return {{"events", events_},
          {"first", first_},
          {"last", last_},
          {"files_read", uses_to_json(read_.by_path)},
          {"files_written", uses_to_json(written_.by_path)},
          {"denied", uses_to_json(denied_.by_path)},
          {"commands", commands_},
          {"dropped", dropped_},
          {"files_read_omitted", read_.omitted},
          {"files_written_omitted", written_.omitted},
          {"denied_omitted", denied_.omitted},
          {"commands_omitted", commands_omitted_}};
}

std::string Summary::to_text() const {
  // Paths and commands are the agent's: quoted and escaped as the timeline shows them
  // (timeline.cc), so that none can add a line or an escape sequence.
  std::string out = std::to_string(events_) + " events";
  if (!first_.empty())
    out += " from " + escape_user_text(first_) + " to " + escape_user_text(last_);
  out += "\n";
  auto section = [&](const char* title, const Uses& uses) {
    out += std::string(title) + " (" + std::to_string(uses.by_path.size()) + "):\n";
    for (const auto& [path, use] : uses.by_path) {
      std::string ops;
      for (const std::string& op : use.ops) ops += (ops.empty() ? "" : ",") + escape_user_text(op);
      out += "  " + quote_path(path) + "  " + ops +
             (use.count > 1 ? "  x" + std::to_string(use.count) : "") + "\n";
    }
    if (uses.omitted > 0) {
      out += "  ... and " + std::to_string(uses.omitted) + " events on further paths, not listed\n";
    }
  };
  section("files read", read_);
  section("files written", written_);
  section("denied attempts", denied_);
  out += "commands (" + std::to_string(commands_.size()) + "):\n";
  for (const auto& command : commands_) {
    const auto text = command.find("command");
    out += "  " + (text != command.end() && text->is_string()
                       ? escape_user_text(text->get<std::string>())
                       : std::string("?"));
    if (command.contains("command_bytes"))
      out += " ... (cut, " + command["command_bytes"].dump() + " bytes in all)";
    if (command.contains("exit_code")) out += "  exit " + command["exit_code"].dump();
    if (command.contains("duration_ms")) out += "  " + command["duration_ms"].dump() + " ms";
    if (command.value("timed_out", false)) out += "  TIMED OUT";
    if (command.value("oom_killed", false)) out += "  MEMORY LIMIT KILLED A PROCESS";
    if (command.value("pids_limit_reached", false)) out += "  PIDS LIMIT REACHED";
    out += "\n";
  }
  if (commands_omitted_ > 0) {
    out += "  ... and " + std::to_string(commands_omitted_) + " further commands, not listed\n";
  }
  if (dropped_ > 0) out += "WARNING: " + std::to_string(dropped_) + " events were dropped\n";
  return out;
}

}  // namespace agentfense::audit
