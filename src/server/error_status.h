// What a failed call tells its client, decided in one place for both transports. The
// gRPC adapter (grpc_service.cc) renders the result as a grpc::Status plus trailing
// metadata, the REST gateway (rest_router.cc, rest_routes.cc) as an HTTP status and a
// JSON body; the codes both send come from one table (transport_status.h). Only that
// rendering differs per transport, so the two cannot drift apart.
#pragma once

#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "server/api.h"

namespace agentfense::server {

struct ErrorInfo {
  StatusCode code = StatusCode::INTERNAL;
  std::string message;                    // one printable line, never empty for INTERNAL
  std::string reason;                     // kReason*, or "" when the code says it all
  std::optional<v1::ExecResult> partial;  // a timed-out command's output so far
  // What the partial's body is charged to until sent (REST), or nothing.
  CommandTimeoutError::BodyCharge partial_charge;
};

// ApiError -> its code, message and reason; CommandTimeoutError adds what the command
// printed. UserError (a bad value found below the API: a rule, an env name, a command)
// -> INVALID_ARGUMENT with its message. Anything else is a bug in the service: logged
// with `where` (the gRPC method or REST route) and sent as INTERNAL; so is an ApiError
// with code OK, which must never read as success.
ErrorInfo DescribeError(std::exception_ptr error, const std::string& where);

}  // namespace agentfense::server
