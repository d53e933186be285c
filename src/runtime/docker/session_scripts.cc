#include "runtime/docker/session_scripts.h"

#include "runtime/session_driver_script.h"

namespace agentfense::runtime::docker {
namespace {

// $@ = stage 2's argv.
constexpr const char* kPrelude = R"BASH(builtin printf .
IFS=' ' builtin read -r __af_port __af_token || exit 125
__af_link="/dev/tcp/127.0.0.1/$__af_port"
exec 3<>"$__af_link" 4>"$__af_link" 5>"$__af_link" || exit 125
builtin printf '%s\n' "$__af_token" >&3
builtin printf '%s 1\n' "$__af_token" >&4
builtin printf '%s 2\n' "$__af_token" >&5
exec 0</dev/null 1>&4 2>&5 4>&- 5>&-
builtin unset __af_port __af_token __af_link
exec "$@"
)BASH";

}  // namespace

std::vector<std::string> session_argv(const std::string& bash, const std::string& bash_name,
                                      const std::string& start_dir) {
  // Stage 2 reads and reports on the one connection, fd 3 (session_driver_script.h).
  return {bash,
          "--noprofile",
          "--norc",
          "-p",
          "-c",
          kPrelude,
          "bash",
          bash,
          "--noprofile",
          "--norc",
          "-p",
          "-c",
          session_driver_script({.container = true}),
          "bash",
          "3",
          "3",
          start_dir,
          "",
          bash_name};
}

}  // namespace agentfense::runtime::docker
