// Reading a sandbox's trail for GetAuditEvents / GetAuditSummary: the request's filters,
// and a reader that emits matching lines and, in follow mode, waits for new ones.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "audit/timeline.h"
#include "server/api.h"

namespace agentfense::server {

class AuditFilter {
 public:
  // ApiError(INVALID_ARGUMENT) naming the field for a bad since, kind, outcome, path or
  // op (audit::Filter::validate: one that could never match is bad too).
  explicit AuditFilter(const v1::GetAuditEventsRequest& request);
  bool matches(const nlohmann::json& event) const { return filter_.matches(event); }

 private:
  // The CLI's filter: one matching rule for both (since normalised to the trail's ts
  // form, path as raw bytes).
  audit::Filter filter_;
};

// Emits the trail's lines at `path` that match `filter`, in order. With `follow`, then
// polls for appended lines until stop() is true or `emit` returns false; it also ends
// after a sandbox_destroyed / sandbox_expired line (nothing more is written then).
// Following, it emits one AuditEvent with an empty line when it first reaches the end:
// the transports drop it (gRPC) or write nothing for it (REST), but it lets the REST
// response begin before the first matching event exists.
void read_trail(const std::string& path, const AuditFilter& filter, bool follow,
                const std::function<bool()>& stop, const Emit<v1::AuditEvent>& emit);

// The summary (audit/summary.h) of the whole trail, as JSON text.
std::string summarise_trail(const std::string& path);

}  // namespace agentfense::server
