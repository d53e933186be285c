// Text that came from a sandbox (file names, file content) on its way to a person or a
// wire format that requires UTF-8: the checks and escapes every outward path shares.
#pragma once

#include <string>
#include <string_view>

namespace agentfense {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// A file name quoted the way git quotes paths (core.quotePath): unchanged when it holds
// only printable ASCII other than '"' and '\\'; otherwise wrapped in double quotes with
// \a \b \t \n \v \f \r \" \\ escapes and every other control or non-ASCII byte as a
// three-digit octal escape. The result is printable ASCII, so a name can never add a
// line or an escape sequence to a review.
std::string quote_path(std::string_view path);

// Text for a terminal: every control character except '\n' and '\t' (ESC, CR, BEL,
// backspace, DEL, C1 controls...) is replaced by a visible escape ("\x1b", "\u009b"), so
// content shown for review cannot move the cursor, recolour or hide lines. Invalid
// UTF-8 bytes are shown as "\xHH" too.
std::string terminal_safe(std::string_view text);

}  // namespace agentfense
