// Explains why a REST request body does not parse as the request message, for the
// INVALID_ARGUMENT answer (reason INVALID_REQUEST): the first byte that is not UTF-8
// and the field it sits in; a JSON syntax error with its line and column; a body that
// is not an object; an unknown field; or the field (with its path, such as
// "permissions[1].permission") whose value protobuf's JSON mapping refuses. Never the
// parser's bare text: our words first, the parser's detail after, on one line.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

namespace agentfense::server {

// Called once protobuf's JSON parser refused `json` for `type` with `parser_detail`;
// always throws ApiError(INVALID_ARGUMENT, kReasonInvalidRequest).
[[noreturn]] void ThrowJsonBodyError(std::string_view json, const google::protobuf::Message& type,
                                     std::string_view parser_detail);

}  // namespace agentfense::server
