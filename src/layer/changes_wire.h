// Change listings and commit reports as they leave the process that made them (the fs
// process's control socket, the server's API): proto3 strings and JSON must be UTF-8,
// and a sandbox can name files with any bytes. Paths go through path_to_wire (lossless:
// a name that is not UTF-8 travels git-quoted and path_from_wire restores it); reasons
// and notes are messages, escaped to printable text.
#pragma once

#include <vector>

#include "layer/changes.h"

namespace agentfense::layer {

void to_wire(std::vector<Change>& changes);
void to_wire(CommitResult& result);

}  // namespace agentfense::layer
