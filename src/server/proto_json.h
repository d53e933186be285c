// proto3 JSON mapping for the REST gateway: messages out, request bodies and URL
// parameters in. Output uses lowerCamelCase names, enum names ("PERMISSION_READ") and
// always prints fields holding their default value, so a REST client sees
// "exitCode": 0 and "stdoutTruncated": false rather than having to know proto3 omits
// them. Input accepts both the proto name (exit_code) and the JSON name (exitCode) and
// rejects unknown fields: a typo'd field must not be silently ignored.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "common/api_error.h"

namespace agentfense::server {

std::string MessageToJson(const google::protobuf::Message& message);

// Merges the JSON object `json` into `message`; an empty body leaves it unchanged.
// Throws ApiError(INVALID_ARGUMENT, INVALID_REQUEST) naming what did not parse and,
// when it can, the field (json_body_errors.h).
void MergeJsonIntoMessage(std::string_view json, google::protobuf::Message& message);

// Sets the scalar (or appends to the repeated scalar) field `name` (proto or JSON
// spelling) from its URL text: numbers, true/false/1/0, enum names or numbers.
// Throws ApiError(INVALID_ARGUMENT) for an unknown field, a message-typed field or a
// value that does not parse, and for a field that is not repeated given `again` (a
// second time in one URL: "?kind=file&kind=security" silently kept the last one).
void SetFieldFromText(google::protobuf::Message& message, const std::string& name,
                      const std::string& value, bool again = false);

// Every URL query parameter of `params` (name -> value, names may repeat) set on
// `message` with SetFieldFromText.
template <typename Params>
void SetFieldsFromQuery(google::protobuf::Message& message, const Params& params) {
  std::string previous;
  for (const auto& [name, value] : params) {  // a multimap: equal names are adjacent
    SetFieldFromText(message, name, value, name == previous);
    previous = name;
  }
}

// The REST error body: {"code": 5, "status": "NOT_FOUND", "message": "...",
// "reason": "..."}, plus "result" (the JSON object `result_json`) when one is given: a
// timed-out command's output so far.
std::string ErrorJson(StatusCode code, const std::string& message, const std::string& reason,
                      const std::string& result_json = {});

}  // namespace agentfense::server
