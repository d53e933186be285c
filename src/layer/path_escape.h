// Lossless text encoding of arbitrary filename bytes for the line-oriented journal.
// Linux filenames may contain any byte except NUL and '/', including '\n' and invalid
// UTF-8, so paths are escaped C-style before being written one record per line.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace agentfense::layer {

// Escapes '\\', '\n', '\t' as \\ \n \t and space, other control bytes and bytes >= 0x80
// as \xHH. The output contains only printable ASCII without spaces, so records can be
// split on ' ' and '\n'.
std::string escape_bytes(std::string_view raw);

// Inverse of escape_bytes; nullopt on a malformed escape (corrupt or torn record).
std::optional<std::string> unescape_bytes(std::string_view escaped);

}  // namespace agentfense::layer
