// The gRPC status code <-> HTTP status mapping the REST gateway uses, following the
// grpc-gateway convention except FAILED_PRECONDITION, which DESIGN.md maps to 409
// (operation conflicts with the resource's state, e.g. exec on a stopped sandbox).
#pragma once

#include <grpcpp/support/status.h>

namespace agentfense::server {

// The HTTP status a REST response carries for a gRPC status code.
int HttpStatusFromGrpc(grpc::StatusCode code);

// The canonical upper-case name ("NOT_FOUND") of a gRPC status code.
const char* GrpcCodeName(grpc::StatusCode code);

// Best gRPC code for an HTTP error httplib produced on its own (bad request line,
// payload too large...), so those errors get the same JSON body as ours.
grpc::StatusCode GrpcCodeFromHttpStatus(int http_status);

}  // namespace agentfense::server
