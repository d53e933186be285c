// A read-only file the session driver sources to define its command runner, so that
// the messages bash prints for a session's commands name "bash" and the line of the
// command text, as for a script ("bash: line 1: foo: command not found"), not
// "environment: line 4: ..." (bash calls the source of a function defined in a
// `bash -c` script "environment"). Bash names a function's source after the
// file being sourced when it was defined, and the driver sources this file as the
// relative path "bash" from its directory (runtime/session_driver_script.cc). A runtime
// without the file still works: the driver then defines the runner itself.
#pragma once

#include "runtime/etc_files.h"

namespace agentfense::runtime {

// The directory, on the sandbox's read-only root, holding the file "bash".
inline constexpr const char* kSessionSourceDir = "/run/agentfense/session";

// The file's text: it evaluates $__af_define, which the driver sets.
inline constexpr const char* kSessionSourceText = "builtin eval \"$__af_define\"\n";

// A sealed memfd with kSessionSourceText and its destination kSessionSourceDir + "/bash".
// (The docker runtime writes the same file into the container: docker/container_bash.h.)
GeneratedFile session_source_file();

}  // namespace agentfense::runtime
