// The Docker Engine HTTP API over dockerd's unix socket (runtime.docker.host, or `agentfense
// run --docker-host`), with libcurl for requests and a plain socket for the two calls that
// upgrade the connection to a raw stream (exec start, container attach: libcurl cannot
// hand an upgraded connection over).
//
// Every call has a deadline: a dockerd that is absent, refuses connections or stops
// answering is a DockerUnavailable error naming the socket, never a hang. The API version
// is pinned (v1.41, Docker 20.10: Debian 12's docker.io), so newer daemons answer the way
// this code expects.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::runtime::docker {

inline constexpr const char* kDefaultDockerHost = "unix:///var/run/docker.sock";

struct EngineResponse {
  long status = 0;
  std::string body;
  // dockerd's error text ({"message": "..."}), or the body itself.
  std::string message() const;
};

// What an upgraded connection gives: the socket (close-on-exec, blocking) and the first
// stream bytes, which may have arrived together with the response headers.
struct HijackedStream {
  UniqueFd socket;
  std::string pending;
};

class EngineClient {
 public:
  static constexpr std::chrono::milliseconds kRequestTimeout{30000};

  // `host` must be "unix:///path/to/docker.sock"; throws UserError otherwise.
  explicit EngineClient(std::string host);

  const std::string& host() const { return host_; }

  // One request (`body`, when given, is sent as JSON); any HTTP status is returned as it
  // is. Throws DockerUnavailable when nothing answers within `timeout`.
  EngineResponse call(const std::string& method, const std::string& path,
                      const nlohmann::json* body = nullptr,
                      std::chrono::milliseconds timeout = kRequestTimeout) const;

  // call() that parses the answer as JSON and throws EngineError("<what>: <dockerd's
  // message>") for a status >= 400. A 204 gives null.
  nlohmann::json checked(const std::string& method, const std::string& path,
                         const std::string& what, const nlohmann::json* body = nullptr,
                         std::chrono::milliseconds timeout = kRequestTimeout) const;

  // POST `body` to `path` asking to upgrade the connection; returns the raw stream once
  // dockerd agreed (101, or 200 from daemons that do not say 101). Throws EngineError
  // for any other status and DockerUnavailable as call() does.
  HijackedStream hijack(const std::string& path, const nlohmann::json& body,
                        std::chrono::milliseconds timeout = kRequestTimeout) const;

  // The error to throw when the socket did not answer: names it and says why.
  [[noreturn]] void throw_unavailable(const std::string& detail) const;

 private:
  std::string host_;
  std::string socket_path_;
};

}  // namespace agentfense::runtime::docker
