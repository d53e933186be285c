#include "server/audit_query.h"

#include <fcntl.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "audit/summary.h"
#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::server {
namespace {

constexpr std::chrono::milliseconds kFollowPoll{200};
constexpr size_t kReadChunk = 64 * 1024;

std::string field(const nlohmann::json& event, const char* key) {
  const auto it = event.find(key);
  return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
}

v1::AuditEvent to_message(const std::string& line, const nlohmann::json& event) {
  v1::AuditEvent out;
  out.set_line(line);
  out.set_seq(event.value("seq", std::uint64_t{0}));
  out.set_ts(field(event, "ts"));
  out.set_kind(field(event, "kind"));
  out.set_op(field(event, "op"));
  out.set_path(field(event, "path"));
  out.set_outcome(field(event, "outcome"));
  return out;
}

// The path filter as raw bytes: a name that is not UTF-8 arrives quoted as the trail and
// the API write it ("/output/b\377" in quotes), since a proto string must be UTF-8.
std::string raw_path(const std::string& text) {
  try {
    return path_from_wire(text);
  } catch (const UserError& error) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "path: '" + escape_user_text(text) + "': " + error.what(), kReasonInvalidPath);
  }
}

}  // namespace

std::optional<std::string> normalise_rfc3339(const std::string& text) {
  static const std::regex form(R"((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z)");
  std::smatch match;
  if (!std::regex_match(text, match, form)) return std::nullopt;
  std::string fraction = match[2].str();
  fraction.resize(6, '0');
  return match[1].str() + "." + fraction + "Z";
}

AuditFilter::AuditFilter(const v1::GetAuditEventsRequest& request) {
  if (!request.since().empty()) {
    const auto since = normalise_rfc3339(request.since());
    if (!since)
      throw ApiError(StatusCode::INVALID_ARGUMENT,
                     "since: '" + escape_user_text(request.since()) +
                         "' is not an RFC 3339 UTC time such as 2026-12-04T19:35:14Z",
                     kReasonInvalidRequest);
    filter_.since = *since;
  }
  filter_.kind = request.kind();
  if (!filter_.kind.empty() && filter_.kind != "file" && filter_.kind != "security" &&
      filter_.kind != "audit")
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "kind: '" + escape_user_text(filter_.kind) + "' is not file, security or audit",
                   kReasonInvalidRequest);
  filter_.outcome = request.outcome();
  if (!filter_.outcome.empty() && filter_.outcome != "allowed" && filter_.outcome != "denied")
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "outcome: '" + escape_user_text(filter_.outcome) + "' is not allowed or denied",
                   kReasonInvalidRequest);
  filter_.path = raw_path(request.path());
  if (!filter_.path.empty() && filter_.path.front() != '/')
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "path: '" + escape_user_text(request.path()) + "' must start with '/'",
                   kReasonInvalidPath);
  while (filter_.path.size() > 1 && filter_.path.back() == '/') filter_.path.pop_back();
  filter_.op = request.op();
}

void read_trail(const std::string& path, const AuditFilter& filter, bool follow,
                const std::function<bool()>& stop, const Emit<v1::AuditEvent>& emit) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throw SystemError("open audit trail " + path, errno);
  std::string pending;  // bytes after the last complete line
  std::string chunk(kReadChunk, '\0');
  bool ended = false;
  bool caught_up = false;
  while (true) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError("read audit trail " + path, errno);
    if (n > 0) {
      pending.append(chunk.data(), static_cast<size_t>(n));
      size_t start = 0;
      for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::string line = pending.substr(start, end - start);
        const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
        if (event.is_discarded()) continue;  // not a trail line; `audit verify` reports it
        const std::string op = field(event, "op");
        if (op == "sandbox_destroyed" || op == "sandbox_expired") ended = true;
        if (filter.matches(event) && !emit(to_message(line, event))) return;
      }
      pending.erase(0, start);
      continue;
    }
    // At the end of what is written so far.
    if (!follow || ended || stop()) return;
    if (!caught_up) {
      caught_up = true;
      if (!emit(v1::AuditEvent())) return;  // the caught-up marker (see the header)
    }
    std::this_thread::sleep_for(kFollowPoll);
    if (stop()) return;
  }
}

std::string summarise_trail(const std::string& path) {
  audit::Summary summary;
  const AuditFilter all{v1::GetAuditEventsRequest()};
  read_trail(
      path, all, false, [] { return true; },
      [&summary](const v1::AuditEvent& event) {
        summary.add(nlohmann::json::parse(event.line()));
        return true;
      });
  return summary.to_json().dump();
}

}  // namespace agentfense::server
