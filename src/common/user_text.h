// Text that came from a client (paths, ids, commands, names) inside error messages and
// logs. Messages are one line of readable UTF-8 (api_error.h), so such text is escaped, never
// passed raw: a NUL must not cut a message short (C strings end there), control bytes
// must not reach a terminal or a log viewer (ESC sequences, fake newlines), and bytes
// that are not UTF-8 must not be silently replaced or dropped. The escapes themselves live in
// common/text_safety.h, shared with the change review.
#pragma once

#include <string>
#include <string_view>

#include "common/text_safety.h"

namespace agentfense {

// Client text for a message: printable UTF-8 kept; `\` -> `\\`; \n \t \r; other
// control bytes and bytes that are not UTF-8 -> \xNN; C1 and bidi controls -> \uNNNN.
// Distinct inputs render distinctly.
inline std::string escape_user_text(std::string_view text) {
  return escape_text(text, {});
}

// The last pass over a whole message before it leaves the server: the same escapes
// except `\`, so text a site already escaped is not escaped twice.
inline std::string printable_message(std::string_view message) {
  return escape_text(message, {.escape_backslash = false});
}

}  // namespace agentfense
