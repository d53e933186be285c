#include "layer/control_protocol.h"

#include <array>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/text_safety.h"
#include "layer/change_selection.h"
#include "layer/changes_wire.h"

namespace agentfense::layer::control {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Op, const char*>, 9> kOps = {{{Op::kPing, "ping"},
                                                             {Op::kChanges, "changes"},
                                                             {Op::kDiff, "diff"},
                                                             {Op::kCommit, "commit"},
                                                             {Op::kDiscard, "discard"},
                                                             {Op::kRefresh, "refresh"},
                                                             {Op::kAuditBegin, "audit_begin"},
                                                             {Op::kAuditEnd, "audit_end"},
                                                             {Op::kStats, "stats"}}};

constexpr const char* kStatsCounters[] = {"readdir", "reads", "prefetched_files", "getattr"};

constexpr std::array<std::pair<ChangeKind, const char*>, 3> kKinds = {
    {{ChangeKind::kAdded, "added"},
     {ChangeKind::kModified, "modified"},
     {ChangeKind::kDeleted, "deleted"}}};

bool takes_paths(Op op) {
  return op == Op::kDiff || op == Op::kCommit || op == Op::kRefresh;
}

bool takes_command(Op op) {
  return op == Op::kAuditBegin || op == Op::kAuditEnd;
}

// Host file names need not be UTF-8 and a diff may quote anything: an invalid byte is
// replaced rather than failing the whole message.
std::string dump(const json& message) {
  return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

json parse_object(std::string_view line, const char* what) {
  json message;
  try {
    message = json::parse(line);
  } catch (const json::parse_error& error) {
    throw ProtocolError(std::string(what) + " is not valid JSON: " + error.what());
  }
  if (!message.is_object()) throw ProtocolError(std::string(what) + " must be a JSON object");
  return message;
}

Op op_from_name(const std::string& name) {
  std::string expected;
  for (std::size_t i = 0; i < kOps.size(); ++i) {
    if (name == kOps[i].second) return kOps[i].first;
    expected += (i == 0 ? "" : i + 1 == kOps.size() ? " or " : ", ") + std::string(kOps[i].second);
  }
  throw ProtocolError("unknown op '" + escape_text(name, {}) + "' (expected " + expected + ")");
}

std::uint64_t& counter(DaemonStats& stats, std::size_t index) {
  switch (index) {
    case 0:
      return stats.readdir;
    case 1:
      return stats.reads;
    case 2:
      return stats.prefetched_files;
    default:
      return stats.getattr;
  }
}

std::vector<std::string> request_paths(const json& request) {
  std::vector<std::string> paths;
  const auto it = request.find("paths");
  if (it == request.end() || it->is_null()) return paths;
  if (!it->is_array()) throw ProtocolError("\"paths\" must be a list of strings");
  for (const json& path : *it) {
    if (!path.is_string()) throw ProtocolError("\"paths\" must be a list of strings");
    try {
      paths.push_back(selection_path_from_wire(path.get_ref<const std::string&>()));
    } catch (const UserError& error) {
      throw ProtocolError(error.what());
    }
  }
  return paths;
}

json wire_paths(const std::vector<std::string>& paths) {
  json list = json::array();
  for (const std::string& path : paths) list.push_back(path_to_wire(path));
  return list;
}

// Reading a reply: every member it must carry, of the right type, or a ProtocolError
// naming the member.
class ReplyReader {
 public:
  ReplyReader(const json& reply, Op op) : reply_(reply), op_(op) {}

  const json& member(const char* key, json::value_t type) const {
    const auto it = reply_.find(key);
    if (it == reply_.end() || it->type() != type) malformed(std::string("no ") + key);
    return *it;
  }

  std::string text(const json& value, const std::string& what) const {
    if (!value.is_string()) malformed(what + " is not a string");
    return value.get<std::string>();
  }

  std::string path(const std::string& wire, const std::string& what) const {
    try {
      return path_from_wire(wire);
    } catch (const UserError& error) {
      malformed(what + ": " + error.what());
    }
  }
  std::string path(const json& value, const std::string& what) const {
    return path(text(value, what), what);
  }

  std::vector<std::string> paths(const char* key) const {
    std::vector<std::string> out;
    for (const json& value : member(key, json::value_t::array)) out.push_back(path(value, key));
    return out;
  }

  // A count a newer fs process sends; 0 when absent.
  std::size_t optional_count(const char* key) const {
    const auto it = reply_.find(key);
    if (it == reply_.end()) return 0;
    if (!it->is_number_unsigned()) malformed(std::string("\"") + key + "\" is not a count");
    return it->get<std::size_t>();
  }

  std::map<std::string, std::string> by_path(const char* key) const {
    std::map<std::string, std::string> out;
    for (const auto& [wire, value] : member(key, json::value_t::object).items())
      out[path(wire, key)] = text(value, key);
    return out;
  }

  [[noreturn]] void malformed(const std::string& why) const {
    throw ProtocolError(std::string("malformed control reply to '") + op_name(op_) + "': " + why);
  }

 private:
  const json& reply_;
  Op op_;
};

std::vector<Change> read_changes(const ReplyReader& reader) {
  std::vector<Change> changes;
  for (const json& item : reader.member("changes", json::value_t::array)) {
    if (!item.is_object()) reader.malformed("a change is not an object");
    const std::string kind_text = reader.text(item.value("kind", json()), "kind");
    const std::optional<ChangeKind> kind = kind_from_name(kind_text);
    if (!kind) reader.malformed("unknown change kind '" + escape_text(kind_text, {}) + "'");
    const std::string type = reader.text(item.value("type", json()), "type");
    if (type.size() != 1)
      reader.malformed("type '" + escape_text(type, {}) + "' is not one letter");
    changes.push_back({reader.path(item.value("path", json()), "path"), *kind, type[0]});
  }
  return changes;
}

}  // namespace

const char* op_name(Op op) {
  for (const auto& [known, name] : kOps)
    if (known == op) return name;
  return "unknown";
}

const char* kind_name(ChangeKind kind) {
  for (const auto& [known, name] : kKinds)
    if (known == kind) return name;
  return "unknown";
}

std::optional<ChangeKind> kind_from_name(std::string_view name) {
  for (const auto& [kind, kind_text] : kKinds)
    if (name == kind_text) return kind;
  return std::nullopt;
}

std::string encode_request(const Request& request) {
  json message = {{"op", op_name(request.op)}};
  if (takes_paths(request.op)) message["paths"] = wire_paths(request.paths);
  if (takes_command(request.op)) message["command"] = request.command;
  if (request.op == Op::kCommit && request.max_bytes >= 0) message["max_bytes"] = request.max_bytes;
  if (request.op == Op::kCommit && !request.review_token.empty())
    message["review_token"] = request.review_token;
  return dump(message);
}

Request decode_request(std::string_view line) {
  const json message = parse_object(line, "request");
  const auto op = message.find("op");
  if (op == message.end() || !op->is_string())
    throw ProtocolError("request needs a string member \"op\"");
  Request request{.op = op_from_name(op->get<std::string>())};
  if (takes_paths(request.op)) request.paths = request_paths(message);
  if (takes_command(request.op)) {
    const auto command = message.find("command");
    if (command == message.end() || !command->is_string() ||
        command->get_ref<const std::string&>().empty())
      throw ProtocolError("\"command\" must be a non-empty string");
    request.command = command->get<std::string>();
  }
  if (request.op == Op::kCommit) {
    const auto max_bytes = message.find("max_bytes");
    if (max_bytes != message.end()) {
      if (!max_bytes->is_number_integer() || max_bytes->get<std::int64_t>() < 0)
        throw ProtocolError("\"max_bytes\" must be a non-negative integer");
      request.max_bytes = max_bytes->get<std::int64_t>();
    }
    const auto token = message.find("review_token");
    if (token != message.end()) {
      if (!token->is_string()) throw ProtocolError("\"review_token\" must be a string");
      request.review_token = token->get<std::string>();
    }
  }
  return request;
}

std::string encode_reply(Op op, const Reply& reply) {
  json message = {{"ok", true}};
  if (op == Op::kChanges) {
    json list = json::array();
    for (const Change& change : reply.changes) {
      list.push_back({{"path", path_to_wire(change.path)},
                      {"kind", kind_name(change.kind)},
                      {"type", std::string(1, change.type)}});
    }
    message["changes"] = std::move(list);
    message["changes_omitted"] = reply.changes_omitted;
  } else if (op == Op::kDiff) {
    message["diff"] = reply.diff;
    message["review_token"] = reply.review_token;
  } else if (op == Op::kCommit) {
    CommitResult result = reply.commit;
    to_wire(result);
    message["applied"] = result.applied;
    message["denied"] = result.denied;
    message["conflicts"] = result.conflicts;
    message["reasons"] = result.reasons;
    message["notes"] = result.notes;
    message["applied_omitted"] = result.applied_omitted;
    message["denied_omitted"] = result.denied_omitted;
    message["conflicts_omitted"] = result.conflicts_omitted;
  } else if (op == Op::kAuditEnd) {
    message["dropped"] = reply.dropped;
    message["pending"] = reply.pending;
  } else if (op == Op::kStats) {
    DaemonStats stats = reply.stats;
    json requests = json::object();
    for (std::size_t i = 0; i < std::size(kStatsCounters); ++i)
      requests[kStatsCounters[i]] = counter(stats, i);
    message["requests"] = std::move(requests);
    message["prewarm"] = stats.prewarm;
  }
  return dump(message);
}

namespace {

std::string one_line(std::string_view message) {
  std::string line(message);
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  return line;
}

}  // namespace

std::string encode_failure(std::string_view message) {
  return dump({{"ok", false}, {"error", one_line(message)}});
}

std::string encode_room_exceeded(std::string_view message, std::int64_t bytes) {
  return dump({{"ok", false}, {"error", one_line(message)}, {"room_exceeded", bytes}});
}

std::string encode_review_outdated(std::string_view message) {
  return dump({{"ok", false}, {"error", one_line(message)}, {"review_outdated", true}});
}

Reply decode_reply(Op op, std::string_view line) {
  json message = parse_object(line, "control reply");
  const ReplyReader reader(message, op);
  const auto ok = message.find("ok");
  if (ok == message.end() || !ok->is_boolean()) reader.malformed("no boolean \"ok\"");
  if (!ok->get<bool>()) {
    const auto error = message.find("error");
    const std::string text = error != message.end() && error->is_string()
                                 ? error->get<std::string>()
                                 : "control request failed without a message";
    const auto room = message.find("room_exceeded");
    if (room != message.end() && room->is_number_integer())
      throw RoomExceeded(text, room->get<std::int64_t>());
    if (const auto outdated = message.find("review_outdated");
        outdated != message.end() && outdated->is_boolean() && outdated->get<bool>())
      throw ReviewOutdated(text);
    throw Refused(text);
  }
  Reply reply;
  if (op == Op::kChanges) {
    reply.changes = read_changes(reader);
    reply.changes_omitted = reader.optional_count("changes_omitted");
  } else if (op == Op::kDiff) {
    // Moved out, not copied: a diff may be many MiB, and the server counts what it holds.
    reader.member("diff", json::value_t::string);
    reply.diff = std::move(message.at("diff").get_ref<std::string&>());
    reply.review_token =
        reader.text(reader.member("review_token", json::value_t::string), "review_token");
  } else if (op == Op::kCommit) {
    reply.commit.applied = reader.paths("applied");
    reply.commit.denied = reader.paths("denied");
    reply.commit.conflicts = reader.paths("conflicts");
    reply.commit.reasons = reader.by_path("reasons");
    reply.commit.notes = reader.by_path("notes");
    reply.commit.applied_omitted = reader.optional_count("applied_omitted");
    reply.commit.denied_omitted = reader.optional_count("denied_omitted");
    reply.commit.conflicts_omitted = reader.optional_count("conflicts_omitted");
  } else if (op == Op::kAuditEnd) {
    reply.dropped = reader.member("dropped", json::value_t::number_unsigned).get<std::uint64_t>();
    if (const auto pending = message.find("pending"); pending != message.end()) {
      if (!pending->is_boolean()) reader.malformed("\"pending\" is not a boolean");
      reply.pending = pending->get<bool>();
    }
  } else if (op == Op::kStats) {
    const json& requests = reader.member("requests", json::value_t::object);
    for (std::size_t i = 0; i < std::size(kStatsCounters); ++i) {
      const auto it = requests.find(kStatsCounters[i]);
      if (it == requests.end() || !it->is_number_unsigned())
        reader.malformed(std::string("no requests.") + kStatsCounters[i]);
      counter(reply.stats, i) = it->get<std::uint64_t>();
    }
    reply.stats.prewarm = reader.text(reader.member("prewarm", json::value_t::string), "prewarm");
  }
  return reply;
}

}  // namespace agentfense::layer::control
