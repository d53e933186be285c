// Client of a live mount's control socket (fs/control_ops.h lists the requests): one
// JSON request line out, one response line back, on a connection kept open for any
// number of calls.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::supervisor {

// The fs process answered {"ok":false,"error":...}; what() is its error text.
class ControlError : public UserError {
 public:
  using UserError::UserError;
};

class ControlClient {
 public:
  // Connects; throws SystemError (e.g. ENOENT before the mount is ready).
  explicit ControlClient(const std::string& socket_path);

  // Sends `request` and returns the response object when it says "ok": true. Throws
  // ControlError for an "ok": false answer, SystemError on I/O failure, timeout or a
  // malformed response; after a SystemError the connection is closed (a late answer
  // would otherwise be read as the answer to the next call) and later calls fail.
  nlohmann::json call(const nlohmann::json& request, std::chrono::milliseconds timeout);

 private:
  std::string read_line(std::chrono::steady_clock::time_point deadline);
  void write_all(const std::string& data, std::chrono::steady_clock::time_point deadline);
  void wait_for(short events, std::chrono::steady_clock::time_point deadline);

  std::string path_;
  UniqueFd fd_;
  std::string buffered_;  // bytes received past the last response line
};

}  // namespace agentfense::supervisor
