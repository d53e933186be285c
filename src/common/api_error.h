// The error an API call ends with: a status code, a one-line message naming what was
// wrong (the rule, the id, the path, the limit) and a stable machine-readable reason.
//
// It lives here, below both the store and the server, rather than as store-own error
// types the server translates: the store's failures (codebase not found, invalid path,
// quota exceeded) already are what the client is told, code, message and reason
// verbatim, so a store hierarchy would only add a second table mapping store errors to
// these same codes - a copy of the rule that could drift. Nothing here knows a transport:
// the codes are the canonical RPC codes (google.rpc.Code, the numbers gRPC uses too, so
// they are spelled the same), and the server's one mapping (server/error_status.h)
// decides what each transport sends for them.
//
// `reason` (kReason* below) lets clients tell apart errors sharing a code (an unknown
// sandbox vs an unknown codebase, both NOT_FOUND); empty when the code says it all.
#pragma once

#include <stdexcept>
#include <string>

namespace agentfense {

enum class StatusCode {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
};

// The canonical upper-case name ("NOT_FOUND"); "UNKNOWN" for a value outside the enum.
const char* status_code_name(StatusCode code);

inline constexpr const char* kReasonCodebaseNotFound = "CODEBASE_NOT_FOUND";
inline constexpr const char* kReasonSandboxNotFound = "SANDBOX_NOT_FOUND";
inline constexpr const char* kReasonSessionNotFound = "SESSION_NOT_FOUND";
inline constexpr const char* kReasonFileNotFound = "FILE_NOT_FOUND";
inline constexpr const char* kReasonSandboxNotRunning = "SANDBOX_NOT_RUNNING";
inline constexpr const char* kReasonWriteLayerBusy = "WRITE_LAYER_BUSY";
inline constexpr const char* kReasonReviewOutdated = "REVIEW_OUTDATED";
inline constexpr const char* kReasonSessionClosed = "SESSION_CLOSED";
inline constexpr const char* kReasonInvalidRule = "INVALID_RULE";
inline constexpr const char* kReasonInvalidPath = "INVALID_PATH";
inline constexpr const char* kReasonCommandTimeout = "COMMAND_TIMEOUT";
inline constexpr const char* kReasonPermissionDenied = "PERMISSION_DENIED";
inline constexpr const char* kReasonQuotaExceeded = "QUOTA_EXCEEDED";
inline constexpr const char* kReasonUnimplementedRuntime = "RUNTIME_UNAVAILABLE";
// The sandbox's Docker image is not in dockerd's store (the server never pulls).
inline constexpr const char* kReasonImageNotFound = "IMAGE_NOT_FOUND";
inline constexpr const char* kReasonCallCancelled = "CALL_CANCELLED";
// A request (body, message or field) that does not parse or holds a bad value.
inline constexpr const char* kReasonInvalidRequest = "INVALID_REQUEST";
// A request (or a field of it) beyond a documented size limit.
inline constexpr const char* kReasonRequestTooLarge = "REQUEST_TOO_LARGE";

// The message is made printable on construction (user_text.h): control bytes, bytes
// that are not UTF-8 and NULs are escaped, so what() is the whole message, one line.
// Sites quoting client text should still escape_user_text() it, which also escapes
// backslashes so that distinct inputs stay distinct.
class ApiError : public std::runtime_error {
 public:
  ApiError(StatusCode code, const std::string& message, std::string reason = {});
  StatusCode code() const { return code_; }
  const std::string& reason() const { return reason_; }

 private:
  StatusCode code_;
  std::string reason_;
};

}  // namespace agentfense
