// Routing for the REST gateway. httplib's own routing cannot tell "no such resource"
// (404) from "resource exists, wrong method" (405) and has no path parameters in
// 0.11, so the gateway registers one catch-all per method and routes here. Routes are
// written like the API docs: "/v1/sandboxes/{sandbox_id}/content/{path=**}", where
// {name} matches one path segment and {name=**} the rest of the path.
//
// With a CallGate, every request is admitted before routing (an unauthenticated one gets
// 401 whatever its path) and its handler runs inside a CallerScope of the caller.
//
// Every failure a handler throws becomes the JSON error body (proto_json.h ErrorJson)
// with the HTTP status of its code, both as error_status.h decides for every transport.
#pragma once

#include <httplib.h>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/call_gate.h"
#include "server/credential_watch.h"
#include "server/error_status.h"
#include "server/principal_share.h"

namespace agentfense::server {

// Delivers the request body to `receiver` in the pieces it arrives in; false when the
// client went away before the body was complete.
using BodyReader = std::function<bool(const httplib::ContentReceiver& receiver)>;

struct RestCall {
  const httplib::Request& http;
  std::map<std::string, std::string> path_params;
  BodyReader body;
  // Whether the caller is still admitted, for calls that outlive admission
  // (credential_watch.h); null without a gate.
  StillAdmitted still_admitted;
  // Readable once the gateway stops (-1 when nobody will stop it): a call that may run
  // long (exec, follow) is cancelled then (rest_disconnect_watch.h).
  int shutdown_fd = -1;

  const std::string& param(const std::string& name) const { return path_params.at(name); }
};

using RestHandler = std::function<void(RestCall& call, httplib::Response& response)>;

// The REST rendering of `error`: its HTTP status and the JSON error body (with the
// command's output so far as "result" when there is one, charged to its grant until sent).
void SetErrorResponse(httplib::Response& response, const ErrorInfo& error);

// `content` as the body, with `hold` (a memory budget's grant) kept until sent: httplib
// sends the body after the handler returned, and an unread 60 MiB answer would be held
// outside the budget.
void SendHeld(httplib::Response& response, std::string content, const char* type,
              std::shared_ptr<void> hold);

class RestRouter {
 public:
  void Add(const std::string& method, const std::string& pattern, RestHandler handler);
  // Set before serving; null (the default) admits every request unauthenticated.
  void set_gate(CallGate* gate) { gate_ = gate; }
  // Set before serving; null (the default): no share. Every authenticated principal's
  // requests count against it while they run; the local principal of a server without
  // authentication does not (there is no other tenant to starve).
  void set_worker_share(PrincipalShare* share) { share_ = share; }
  // Set before serving: RestCall::shutdown_fd of every call.
  void set_shutdown_fd(int fd) { shutdown_fd_ = fd; }

  // Finds the route for `request` and runs it; 404/405 JSON when there is none.
  void Dispatch(const httplib::Request& request, httplib::Response& response,
                BodyReader body) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::regex regex;
    std::vector<std::string> param_names;
    RestHandler handler;
  };
  std::vector<Route> routes_;
  CallGate* gate_ = nullptr;
  PrincipalShare* share_ = nullptr;
  int shutdown_fd_ = -1;
};

}  // namespace agentfense::server
