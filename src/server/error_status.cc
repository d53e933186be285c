#include "server/error_status.h"

#include <cstddef>
#include <cstring>
#include <string>

#include "common/errors.h"
#include "common/log.h"
#include "common/random_hex.h"
#include "common/text_safety.h"

namespace agentfense::server {

namespace {

// An error message echoes what the client sent (a path, a command), escaped. gRPC carries
// it in a header, and clients refuse headers over 8 KiB by default: a 9,000-byte path
// made every refusal reach the caller as "received initial metadata size exceeds
// limit" (RESOURCE_EXHAUSTED) instead of the error. Past 1,024 bytes a message keeps its
// beginning and its end (cut at character boundaries) and says how long it was: the end
// is often what matters ("... exceeds storage.max_codebase_bytes (1 MiB)" after a long
// path was cut off with the rest).
constexpr std::size_t kMaxMessageBytes = 1024;
constexpr std::size_t kKeptHeadBytes = 760;
constexpr std::size_t kKeptTailBytes = 200;

std::string bounded(const std::string& message) {
  if (message.size() <= kMaxMessageBytes) return message;
  return std::string(utf8_prefix(message, kKeptHeadBytes)) + "... (" +
         std::to_string(message.size()) + " bytes in all) ..." +
         std::string(utf8_suffix(message, kKeptTailBytes));
}

ErrorInfo bounded(ErrorInfo info) {
  info.message = bounded(info.message);
  return info;
}

// An unexpected failure is the operator's to read, not the caller's: its text names the
// server's own paths (`connect to /var/lib/.../run/sb_x/control.sock: Connection
// refused` showed another tenant where the data lives). The caller gets what kind of
// failure it was and an id to quote; the log has the whole error under that id.
// Never empty: an empty INTERNAL is what gRPC itself answers for a request that does
// not parse, so the two cannot be mistaken for each other.
ErrorInfo Internal(const std::string& where, const std::string& what, const std::string& kind) {
  const std::string id = "err_" + random_hex(6);
  agentfense::log::error("api.internal_error", {{"call", where}, {"error", what}, {"id", id}});
  return {StatusCode::INTERNAL,
          "internal error" + (kind.empty() ? "" : ": " + kind) + " (" + id + " in the server log)",
          {},
          {}};
}

ErrorInfo describe(std::exception_ptr error, const std::string& where) {
  try {
    std::rethrow_exception(error);
  } catch (const CommandTimeoutError& e) {
    return {e.code(), e.what(), e.reason(), e.partial(), e.body_charge()};
  } catch (const ApiError& e) {
    if (e.code() != StatusCode::OK) return {e.code(), e.what(), e.reason(), {}};
    return Internal(where, std::string("ApiError with code OK: ") + e.what(), "");
  } catch (const UserError& e) {
    return {StatusCode::INVALID_ARGUMENT, printable_message(e.what()), {}, {}};
  } catch (const SystemError& e) {
    return Internal(where, e.what(), std::strerror(e.code()));
  } catch (const std::exception& e) {
    return Internal(where, e.what(), "");
  } catch (...) {
    return Internal(where, "non-standard exception", "");
  }
}

}  // namespace

ErrorInfo DescribeError(std::exception_ptr error, const std::string& where) {
  return bounded(describe(std::move(error), where));
}

}  // namespace agentfense::server
