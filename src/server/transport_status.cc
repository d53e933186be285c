#include "server/transport_status.h"

#include <array>
#include <cstddef>

namespace agentfense::server {

namespace {

struct Row {
  StatusCode code;
  TransportStatus sent;
};

using G = grpc::StatusCode;
using S = StatusCode;

constexpr std::array<Row, 17> kTable = {{
    {S::OK, {G::OK, 200}},
    {S::CANCELLED, {G::CANCELLED, 499}},  // nginx's "client closed request", as grpc-gateway
    {S::UNKNOWN, {G::UNKNOWN, 500}},
    {S::INVALID_ARGUMENT, {G::INVALID_ARGUMENT, 400}},
    {S::DEADLINE_EXCEEDED, {G::DEADLINE_EXCEEDED, 504}},
    {S::NOT_FOUND, {G::NOT_FOUND, 404}},
    {S::ALREADY_EXISTS, {G::ALREADY_EXISTS, 409}},
    {S::PERMISSION_DENIED, {G::PERMISSION_DENIED, 403}},
    {S::RESOURCE_EXHAUSTED, {G::RESOURCE_EXHAUSTED, 429}},
    {S::FAILED_PRECONDITION, {G::FAILED_PRECONDITION, 409}},
    {S::ABORTED, {G::ABORTED, 409}},
    {S::OUT_OF_RANGE, {G::OUT_OF_RANGE, 400}},
    {S::UNIMPLEMENTED, {G::UNIMPLEMENTED, 501}},
    {S::INTERNAL, {G::INTERNAL, 500}},
    {S::UNAVAILABLE, {G::UNAVAILABLE, 503}},
    {S::DATA_LOSS, {G::DATA_LOSS, 500}},
    {S::UNAUTHENTICATED, {G::UNAUTHENTICATED, 401}},
}};

// Row i is code i, and each code goes to the gRPC code of the same canonical name.
constexpr bool TableIsInOrder() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].code) != i) return false;
    if (static_cast<std::size_t>(kTable[i].sent.grpc) != i) return false;
  }
  return true;
}
static_assert(TableIsInOrder());

}  // namespace

TransportStatus TransportStatusOf(StatusCode code) {
  const auto index = static_cast<std::size_t>(code);
  if (index >= kTable.size()) return kTable[static_cast<std::size_t>(S::INTERNAL)].sent;
  return kTable[index].sent;
}

StatusCode StatusFromHttp(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
    case 414:
    case 431:
      return S::INVALID_ARGUMENT;
    case 401:
      return S::UNAUTHENTICATED;
    case 403:
      return S::PERMISSION_DENIED;
    case 404:
      return S::NOT_FOUND;
    case 405:
    case 501:
      return S::UNIMPLEMENTED;
    case 408:
    case 504:
      return S::DEADLINE_EXCEEDED;
    case 409:
      return S::ABORTED;
    case 429:
      return S::RESOURCE_EXHAUSTED;
    case 503:
      return S::UNAVAILABLE;
    default:
      return S::INTERNAL;
  }
}

}  // namespace agentfense::server
