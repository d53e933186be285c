// Finds a key given twice in one JSON object. Parsers disagree on such text (nlohmann and
// protobuf keep the last value, others the first or refuse), so a request holding one is
// ambiguous: a second "permissions" list would silently replace the first, `none` rules
// included. Untrusted JSON is checked before it is taken apart.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace agentfense {

// The first duplicated key as a path ("permissions[1].pattern", "labels.team"), or
// nullopt when there is none before the end or the first syntax error (which the parser
// that follows then reports). Call only on text json_nested_deeper_than() accepted.
std::optional<std::string> first_duplicate_json_key(std::string_view text);

}  // namespace agentfense
