// The audit trail of a sandbox, read back: GetAuditEvents and GetAuditSummary. Both work
// on the trail file alone, so a destroyed sandbox's trail is served as long as retention
// keeps it.
#include "server/audit_query.h"
#include "server/principal_share.h"
#include "server/sandbox_service.h"

namespace agentfense::server {

std::string SandboxService::trail_of(const std::string& sandbox_id) const {
  if (sandbox_id.empty()) throw ApiError(StatusCode::INVALID_ARGUMENT, "sandbox_id is required");
  if (!options_.audit || !options_.audit->exists(sandbox_id))
    throw ApiError(StatusCode::NOT_FOUND, "sandbox " + escape_user_text(sandbox_id) + " not found",
                   kReasonSandboxNotFound);
  return options_.audit->path(sandbox_id);
}

void SandboxService::GetAuditEvents(const v1::GetAuditEventsRequest& request, CallContext& call,
                                    const Emit<v1::AuditEvent>& emit) {
  const AuditFilter filter(request);
  read_trail(
      trail_of(request.sandbox_id()), filter, request.follow(),
      [&call] { return call.cancelled(); }, emit);
}

v1::AuditSummary SandboxService::GetAuditSummary(const v1::GetAuditSummaryRequest& request) {
  v1::AuditSummary out;
  out.set_json(summarise_trail(trail_of(request.sandbox_id())));
  hold_answer(out, answer_grant("GetAuditSummary", caller_holder()));
  return out;
}

}  // namespace agentfense::server
