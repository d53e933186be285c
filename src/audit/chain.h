// The hash chain that makes a trail tamper-evident. Every line ends with
//   ...,"prev":"<hash of the line before>","hash":"<hash of this line>"}
// where hash = hex(SHA-256(prev + "\n" + body)) and body is the line without its
// `,"hash":"..."` member (so it ends with `"prev":"..."}`). The first line's prev is
// kGenesis. Editing a byte of a line changes its hash; removing a line breaks the next
// line's prev; both make verify() (verify.h) fail. The scheme is textual so any language
// can check it without re-serialising JSON.
#pragma once

#include <string>
#include <string_view>

namespace agentfense::audit {

inline constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The hash of a line whose body (without the hash member) is `body`.
std::string link_hash(std::string_view prev, std::string_view body);

// `body` (ending in '}') + the hash member: the line as written, without '\n'.
std::string seal(std::string_view body, std::string_view hash);

// Splits a written line into its body and its stated hash; false when the line does not
// end with a well-formed hash member.
bool split_line(std::string_view line, std::string* body, std::string* hash);

}  // namespace agentfense::audit
