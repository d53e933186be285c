#include "server/rest_router.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>

#include "common/user_text.h"
#include "server/caller_scope.h"
#include "server/proto_json.h"
#include "server/rest_connection.h"
#include "server/rest_credentials.h"
#include "server/transport_status.h"

namespace agentfense::server {

namespace {

std::string EscapeRegex(const std::string& literal) {
  static const std::string kSpecial = R"(\^$.|?*+()[]{})";
  std::string out;
  for (char c : literal) {
    if (kSpecial.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

// A refused request's body is read (so the refusal reaches a client still sending) but
// only this much of it, and only for this long: an unauthenticated client can neither make
// the server read a large upload nor hold a worker by sending slowly; beyond either,
// the connection is dropped.
constexpr std::size_t kRefusedBodyBytes = 1 << 20;
constexpr std::chrono::milliseconds kRefusedBodyWait{1'000};

void DrainRefusedBody(const BodyReader& body) {
  limit_request_body_wait(kRefusedBodyWait);
  std::size_t read = 0;
  // False from `body` means the client went away or the cap was reached: either way the
  // refusal below is all that is left to send, and the connection ends with it. Kept
  // open, what was left of the body was read as the next requests: one refused POST
  // carried 55 more (with a key in them, answered) (attack sweep O2).
  const bool whole = body([&read](const char*, std::size_t length) {
    read += length;
    return read <= kRefusedBodyBytes;
  });
  if (!whole) close_connection_after_request();
}

// A streamed response (an exec stream, a follow, a download) is produced by its content
// provider after the handler returned, on the same worker: the share is held until httplib
// is done with the response (it destroys the provider with it).
void HoldUntilSent(httplib::Response& response, PrincipalShare::Held held) {
  if (!response.content_provider_) return;
  auto kept = std::make_shared<PrincipalShare::Held>(std::move(held));
  response.content_provider_ = [kept, provide = std::move(response.content_provider_)](
                                   std::size_t offset, std::size_t length,
                                   httplib::DataSink& sink) {
    return provide(offset, length, sink);
  };
}

}  // namespace

void SendHeld(httplib::Response& response, std::string content, const char* type,
              std::shared_ptr<void> hold) {
  if (content.empty() || !hold) return response.set_content(std::move(content), type);
  auto body = std::make_shared<const std::string>(std::move(content));
  response.set_content_provider(
      body->size(), type,
      [body, hold = std::move(hold)](std::size_t offset, std::size_t length,
                                     httplib::DataSink& sink) {
        return sink.write(body->data() + offset, std::min(length, body->size() - offset));
      });
}

void SetErrorResponse(httplib::Response& response, const ErrorInfo& error) {
  response.status = TransportStatusOf(error.code).http;
  // Every message passes the last escape pass, whoever built it (the router's own 404
  // and 405 below too): client text must not reach a terminal or log viewer raw.
  const std::string partial = error.partial ? MessageToJson(*error.partial) : std::string();
  std::string body = ErrorJson(error.code, printable_message(error.message), error.reason, partial);
  if (error.partial_charge.settle) error.partial_charge.settle(body.size());
  SendHeld(response, std::move(body), "application/json", error.partial_charge.hold);
}

void RestRouter::Add(const std::string& method, const std::string& pattern, RestHandler handler) {
  // "{name}" -> one segment, "{name=**}" -> the rest; everything else is literal.
  static const std::regex kParam(R"(\{([a-z_]+)(=\*\*)?\})");
  Route route{method, pattern, {}, {}, std::move(handler)};
  std::string regex;
  auto last = pattern.cbegin();
  for (std::sregex_iterator it(pattern.begin(), pattern.end(), kParam), end; it != end; ++it) {
    regex += EscapeRegex(std::string(last, pattern.cbegin() + it->position()));
    regex += (*it)[2].matched ? R"(([\s\S]+))" : "([^/]+)";  // any byte, newline too
    route.param_names.push_back((*it)[1]);
    last = pattern.cbegin() + it->position() + it->length();
  }
  regex += EscapeRegex(std::string(last, pattern.cend()));
  route.regex = std::regex(regex);
  routes_.push_back(std::move(route));
}

void RestRouter::Dispatch(const httplib::Request& request, httplib::Response& response,
                          BodyReader body) const {
  std::optional<CallerScope> caller;
  std::optional<PrincipalShare::Held> worker;
  StillAdmitted still_admitted;
  if (gate_ != nullptr) {
    try {
      PresentedCredentials presented = PresentedBy(request);
      PrincipalPtr principal = gate_->admit(presented);
      if (auto held = take_share(share_, principal)) worker.emplace(std::move(*held));
      still_admitted = RecheckWith(gate_, std::move(presented), principal);
      caller.emplace(std::move(principal));
    } catch (...) {
      const ErrorInfo refusal = DescribeError(std::current_exception(), "admission");
      DrainRefusedBody(body);
      SetErrorResponse(response, refusal);
      if (refusal.code == StatusCode::UNAUTHENTICATED)
        response.set_header("WWW-Authenticate", "Bearer realm=\"agentfense\"");
      return;
    }
  }
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    std::smatch match;
    if (!std::regex_match(request.path, match, route.regex)) continue;
    if (route.method != request.method) {
      allowed.insert(route.method);
      continue;
    }
    RestCall call{request, {}, std::move(body), still_admitted, shutdown_fd_};
    for (size_t i = 0; i < route.param_names.size(); ++i) {
      call.path_params[route.param_names[i]] = match[i + 1];
    }
    try {
      route.handler(call, response);
    } catch (...) {
      SetErrorResponse(response,
                       DescribeError(std::current_exception(), route.method + " " + route.pattern));
    }
    if (worker) HoldUntilSent(response, std::move(*worker));
    return;
  }
  if (allowed.empty()) {
    SetErrorResponse(response, {StatusCode::NOT_FOUND,
                                "no route for " + escape_user_text(request.method) + " " +
                                    escape_user_text(request.path),
                                {}});
    return;
  }
  std::string allow;
  for (const auto& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
  SetErrorResponse(response, {StatusCode::UNIMPLEMENTED,
                              escape_user_text(request.method) + " is not allowed on " +
                                  escape_user_text(request.path) + " (allowed: " + allow + ")",
                              {}});
  response.status = 405;
  response.set_header("Allow", allow);
}

}  // namespace agentfense::server
