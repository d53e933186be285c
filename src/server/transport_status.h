// What each transport sends for a StatusCode, in one table (transport_status.cc): the
// gRPC status code and the HTTP status of the REST response. Both transports read the
// same row, so a code cannot mean one thing over gRPC and another over REST.
// HTTP follows the grpc-gateway convention except FAILED_PRECONDITION, which DESIGN.md
// maps to 409 (operation conflicts with the resource's state, e.g. exec on a stopped
// sandbox).
#pragma once

#include <grpcpp/support/status.h>

#include "common/api_error.h"

namespace agentfense::server {

struct TransportStatus {
  grpc::StatusCode grpc;
  int http;
};

// The row for `code` (INTERNAL's for a value outside the enum).
TransportStatus TransportStatusOf(StatusCode code);

// Best code for an HTTP error httplib produced on its own (bad request line, payload too
// large...), so those errors get the same JSON body as ours.
StatusCode StatusFromHttp(int http_status);

}  // namespace agentfense::server
