// The REST client the CLI talks to a running agentfense server with (`mcp --server`,
// `audit --server`). REST rather than gRPC: this CLI (and every fs process it starts)
// stays free of the server's gRPC and protobuf libraries (cmd_server.cc), and cpp-httplib
// is already here for the MCP HTTP transport. TLS when the URL says https:// (a CA file
// for a private CA).
#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/errors.h"

namespace httplib {
class Client;
}

namespace agentfense::cli {

// The API key a command talking to a server uses: its --api-key flag when given, else
// $AGENTFENSE_API_KEY (the SDK's name for it), else the first of `also_from` that is set.
std::string api_key_from(const std::string& flag,
                         std::initializer_list<const char*> also_from = {});

struct ServerOptions {
  std::string url;      // http://HOST:PORT or https://HOST:PORT: the server's REST address
  std::string api_key;  // sent as `authorization: Bearer KEY` when not empty
  std::string ca_cert;  // PEM file trusted for https:// (default: the system's roots)
};

// The server answered with an error body ({"code", "status", "message", "reason"}).
class ServerError : public UserError {
 public:
  ServerError(int http_status, std::string reason, const std::string& message, nlohmann::json body)
      : UserError(message),
        http_status_(http_status),
        reason_(std::move(reason)),
        body_(std::move(body)) {}
  int http_status() const { return http_status_; }
  const std::string& reason() const { return reason_; }  // "SANDBOX_NOT_FOUND", ...
  const nlohmann::json& body() const { return body_; }

 private:
  int http_status_;
  std::string reason_;
  nlohmann::json body_;
};

// The call was given up because its cancel_fd became readable.
class ServerCallCancelled : public UserError {
 public:
  ServerCallCancelled() : UserError("cancelled") {}
};

class ServerClient {
 public:
  // Throws UserError for a URL that is neither http:// nor https://, and for an API key
  // that would travel in clear text (http:// to a host that is not loopback).
  explicit ServerClient(ServerOptions options);

  const std::string& url() const { return options_.url; }

  // One JSON call ("GET", "POST" or "DELETE"; `body` null for none). Returns the answer's
  // JSON (null for an empty body). Throws ServerError for a non-2xx answer, UserError
  // naming the URL when the server cannot be reached, ServerCallCancelled when
  // `cancel_fd` (-1: none) became readable first: the connection is closed, and the
  // server kills what the call was running.
  nlohmann::json call(const char* method, const std::string& path, const nlohmann::json& body,
                      std::chrono::milliseconds timeout, int cancel_fd = -1) const;

  // GET `path`, handing the body to `on_bytes` as it arrives (an NDJSON stream, which a
  // follow may keep open). `idle_timeout`: the longest wait for the next bytes. Throws
  // as call(); the error body of a non-2xx answer is not streamed.
  void stream(const std::string& path, const std::string& accept,
              std::chrono::milliseconds idle_timeout,
              const std::function<void(std::string_view)>& on_bytes) const;

 private:
  std::unique_ptr<httplib::Client> client(std::chrono::milliseconds read_timeout) const;
  [[noreturn]] void throw_error(int status, const std::string& body) const;

  ServerOptions options_;
};

// A path segment or query value, percent-encoded.
std::string url_escape(const std::string& text);

}  // namespace agentfense::cli
