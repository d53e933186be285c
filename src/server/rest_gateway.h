// The REST transport (DESIGN.md "API"): JSON over HTTP/1.1 onto the same Api the gRPC
// transport serves, so the two cannot disagree about behaviour.
//
// Request messages are built from, in increasing precedence: the JSON body (proto3 JSON,
// either field spelling), query parameters (?page_size=10 or ?pageSize=10; repeated
// fields by repetition: ?paths=a&paths=b) and path parameters. Responses are proto3
// JSON with lowerCamelCase names and default values included (proto_json.h); empty
// results are {}. File content travels raw (application/octet-stream) in both
// directions and is streamed; {path...} in a content URL is the file's path below the
// root, passed to the Api with a leading "/". Exec streams are NDJSON: one ExecOutput
// per line as it is produced (data base64-encoded, per proto3 JSON), and a final
// {"error": {...}} line if the command fails after output began.
//
// Errors: {"code": <grpc code>, "status": "NOT_FOUND", "message": ..., "reason": ...}
// with the HTTP status from transport_status.h; unknown path 404, known path with another
// method 405 (with an Allow header).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/api.h"
#include "server/call_gate.h"
#include "server/rest_browser_guard.h"
#include "server/tls_certificates.h"

namespace agentfense::server {

// How the gateway is reached: a CallGate admitting every request (rest_router.h), TLS
// (tls_certificates.h), and which Host names and web origins may call it
// (rest_browser_guard.h). Gate and TLS optional; without TLS it serves plain HTTP.
struct RestSecurity {
  CallGate* gate = nullptr;
  std::shared_ptr<TlsCertificates> tls;
  BrowserPolicy browsers;
};

class RestGateway {
 public:
  // Called once per request after its response was sent (streams included).
  using AccessLog = std::function<void(const std::string& method, const std::string& path,
                                       int status, std::chrono::microseconds duration)>;

  RestGateway(CodebaseApi& codebases, SandboxApi& sandboxes, RestSecurity security = {});
  ~RestGateway();  // stops
  RestGateway(const RestGateway&) = delete;
  RestGateway& operator=(const RestGateway&) = delete;

  // Set before listen().
  void set_access_log(AccessLog log);

  // Binds `address` ("host:port", ":8080" = every interface, port 0 = any free port),
  // serves on a background thread, returns the bound port. Throws UserError for a bad
  // or unbindable address.
  int listen(const std::string& address);

  // Stops accepting, cancels the calls in flight that run commands or follow trails (as a
  // client disconnecting does: the command is killed, the follow ends), and waits for
  // every request in flight.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentfense::server
