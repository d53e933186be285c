// A small line diff (Myers' O(ND) algorithm) rendered as unified diff hunks, so that
// change review needs no external `diff` binary inside or outside the sandbox.
#pragma once

#include <string>
#include <string_view>

namespace agentfense::layer {

// Unified diff hunks ("@@ -a,b +c,d @@" + lines) between two texts with `context`
// lines of context; empty when the texts are equal. A last line without '\n' is
// followed by "\ No newline at end of file", as in GNU diff.
std::string unified_hunks(std::string_view old_text, std::string_view new_text, int context = 3);

}  // namespace agentfense::layer
