#include "server/error_status.h"

#include "common/errors.h"
#include "common/log.h"

namespace agentfense::server {

namespace {

void LogBug(const std::string& where, const std::string& what) {
  agentfense::log::error("api.internal_error", {{"call", where}, {"error", what}});
}

// Never empty: an empty INTERNAL is what gRPC itself answers for a request that does
// not parse (grpc_request_errors.h tells the two apart by that).
ErrorInfo Internal(const std::string& what) {
  const std::string message = printable_message(what);
  return {StatusCode::INTERNAL, message.empty() ? "internal error" : message, {}, {}};
}

}  // namespace

ErrorInfo DescribeError(std::exception_ptr error, const std::string& where) {
  try {
    std::rethrow_exception(error);
  } catch (const CommandTimeoutError& e) {
    return {e.code(), e.what(), e.reason(), e.partial()};
  } catch (const ApiError& e) {
    if (e.code() != StatusCode::OK) return {e.code(), e.what(), e.reason(), {}};
    LogBug(where, std::string("ApiError with code OK: ") + e.what());
    return {StatusCode::INTERNAL, e.what(), {}, {}};
  } catch (const UserError& e) {
    return {StatusCode::INVALID_ARGUMENT, printable_message(e.what()), {}, {}};
  } catch (const std::exception& e) {
    LogBug(where, e.what());
    return Internal(e.what());
  } catch (...) {
    LogBug(where, "non-standard exception");
    return Internal("internal error");
  }
}

}  // namespace agentfense::server
