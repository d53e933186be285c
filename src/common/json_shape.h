// What untrusted JSON must not be before it is taken apart (after json_depth.h):
// - a key given twice in one object. Parsers disagree on such text (nlohmann and protobuf
//   keep the last value, others the first or refuse), so a request holding one is
//   ambiguous: a second "permissions" list would silently replace the first, `none` rules
//   included;
// - more values than a request needs. A parsed value costs 50-100 bytes, so a 60 MiB body
//   of tiny values (`[0,0,...]`) took the server to several GB for one request.
// One SAX pass, no document built.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace agentfense {

// A 10,000-rule policy is about 50,000 values; long strings (file content) are one each.
inline constexpr std::size_t kMaxJsonValues = 200'000;

struct JsonShapeIssue {
  enum class Kind { kDuplicateKey, kTooManyValues };
  Kind kind;
  // kDuplicateKey: the second key's path ("permissions[1].pattern", "labels.team");
  // kTooManyValues: the path of the value past the limit.
  std::string path;
};

// The first issue, or nullopt when there is none before the end or the first syntax error
// (which the parser that follows then reports). Call only on text json_nested_deeper_than()
// accepted.
std::optional<JsonShapeIssue> first_json_shape_issue(std::string_view text,
                                                     std::size_t max_values = kMaxJsonValues);

}  // namespace agentfense
