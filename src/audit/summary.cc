#include "audit/summary.h"

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
  if (kind == "security" && (op == "exec" || op == "session_exec")) {
    nlohmann::ordered_json command = {{"op", op}};
    for (const char* key : {"cmd", "command", "exit_code", "duration_ms", "timed_out", "oom_killed",
                            "pids_limit_reached", "caller"}) {
      if (event.contains(key)) command[key] = event[key];
    }
    commands_.push_back(std::move(command));
  }
  if (kind != "file") return;
  const std::string path = str(event, "path");
  if (str(event, "outcome") == "denied") {
    PathUse& use = denied_[path];
    use.ops.insert(op);
    use.count += count;
    return;
  }
  if (op == "open_read" || op == "exec") {
    PathUse& use = read_[path];
    use.ops.insert(op);
    use.count += count;
  } else if (is_change(op)) {
    PathUse& use = written_[path];
    use.ops.insert(op);
    use.count += count;
    if (const std::string to = str(event, "path2"); !to.empty()) {
      PathUse& target = written_[to];
      target.ops.insert(op);
      target.count += count;
    }
  }
}

nlohmann::ordered_json Summary::to_json() const {
  return {{"events", events_},
          {"first", first_},
          {"last", last_},
          {"files_read", uses_to_json(read_)},
          {"files_written", uses_to_json(written_)},
          {"denied", uses_to_json(denied_)},
          {"commands", commands_},
          {"dropped", dropped_}};
}

std::string Summary::to_text() const {
  std::string out = std::to_string(events_) + " events";
  if (!first_.empty()) out += " from " + first_ + " to " + last_;
  out += "\n";
  auto section = [&](const char* title, const std::map<std::string, PathUse>& uses) {
    out += std::string(title) + " (" + std::to_string(uses.size()) + "):\n";
    for (const auto& [path, use] : uses) {
      std::string ops;
      for (const std::string& op : use.ops) ops += (ops.empty() ? "" : ",") + op;
      out += "  " + path + "  " + ops + (use.count > 1 ? "  x" + std::to_string(use.count) : "") +
             "\n";
    }
  };
  section("files read", read_);
  section("files written", written_);
  section("denied attempts", denied_);
  out += "commands (" + std::to_string(commands_.size()) + "):\n";
  for (const auto& command : commands_) {
    out += "  " + command.value("command", std::string("?"));
    if (command.contains("exit_code")) out += "  exit " + command["exit_code"].dump();
    if (command.contains("duration_ms")) out += "  " + command["duration_ms"].dump() + " ms";
    if (command.value("timed_out", false)) out += "  TIMED OUT";
    if (command.value("oom_killed", false)) out += "  MEMORY LIMIT KILLED A PROCESS";
    if (command.value("pids_limit_reached", false)) out += "  PIDS LIMIT REACHED";
    out += "\n";
  }
  if (dropped_ > 0) out += "WARNING: " + std::to_string(dropped_) + " events were dropped\n";
  return out;
}

}  // namespace agentfense::audit
