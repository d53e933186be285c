#include "server/rest_streams.h"

#include "server/request_limits.h"
#include "server/rest_connection.h"

namespace agentfense::server {

std::string ReadWholeBody(const BodyReader& body, std::size_t limit) {
  std::string out;
  bool too_large = false;
  const bool complete = body([&](const char* data, std::size_t length) {
    if (too_large || out.size() + length > limit) {
      too_large = true;  // keep reading so the error response can still be delivered
      return true;
    }
    out.append(data, length);
    return true;
  });
  if (!complete) {
    throw request_body_incomplete();
  }
  if (too_large) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "request body exceeds " + describe_size(limit) +
                       ", the limit for a request that is not streamed",
                   kReasonRequestTooLarge);
  }
  return out;
}

}  // namespace agentfense::server
