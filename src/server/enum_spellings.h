// The spellings of enum values a REST client may type: the proto3 JSON name
// ("PERMISSION_READ"), the same in any case, and the short form without the type's
// prefix ("read", "Read", "glob", "bwrap", "manual"). Numbers stay protobuf's business.
#pragma once

#include <google/protobuf/descriptor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentfense::server {

// The value `text` spells, or null.
const google::protobuf::EnumValueDescriptor* FindEnumValue(
    const google::protobuf::EnumDescriptor& type, std::string_view text);

// "none, view, read, write (or PERMISSION_NONE ...)": what an error message offers.
// UNSPECIFIED values are left out (they mean "not given").
std::string EnumSpellings(const google::protobuf::EnumDescriptor& type);

// Rewrites, in the JSON object `body` for message `type` (nested messages, repeated
// fields and map values included), every enum value written in another accepted
// spelling to its proto3 JSON name. Values it does not recognise are left for the
// protobuf parser to refuse. Returns whether anything changed.
bool NormalizeEnumSpellings(nlohmann::json& body, const google::protobuf::Descriptor& type);

}  // namespace agentfense::server
