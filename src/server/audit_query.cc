#include "server/audit_query.h"

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace

AuditFilter::AuditFilter(const v1::GetAuditEventsRequest& request) {
  filter_.since = request.since();
  filter_.kind = request.kind();
  filter_.outcome = request.outcome();
  filter_.path = request.path();
  filter_.op = request.op();
  try {
    filter_.validate();
  } catch (const audit::FilterError& error) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, error.what(),
                   error.field() == "path" ? kReasonInvalidPath : kReasonInvalidRequest);
  }
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
