#include "runtime/docker/session_scripts.h"

#include <string_view>

#include "runtime/session_source_file.h"

namespace agentfense::runtime::docker {
namespace {

// $@ = stage 2's argv.
constexpr const char* kPrelude = R"BASH(builtin printf .
IFS=' ' builtin read -r __af_port __af_token || exit 125
exec 3<>"/dev/tcp/127.0.0.1/$__af_port" || exit 125
builtin printf '%s\n' "$__af_token" >&3
exec 0</dev/null
builtin unset __af_port __af_token
exec "$@"
)BASH";

// $1 = the channel fd, $2 = where to start (else /workspace), $3 = what $BASH says.
// As session_channel.cc's driver, with the differences the header names: one
// bidirectional channel fd, saved copies of stdout/stderr for the fences (closed for the
// command like the channel), and `cd` to the start directory (the exec starts in /).
// The runner is defined while sourcing the file "bash" that container_bash.cc writes
// (session_source_file.h), so bash's messages read "bash: line 1: ...", not
// "environment: line 3: ..."; OLDPWD is then unset (and exported once set) as in a fresh
// bash. The fence is "\x1eAF <seq> <nonce>\x1e", __af_seq holding "<seq> <nonce>".
constexpr const char* kDriver =
    R"BASH(exec {__af_in}<&"$1" {__af_out}>&"$1" {__af_o}>&1 {__af_e}>&2 || exit 125
builtin eval "exec $1<&- $1>&-"
__af_define="__af_run() { __af_running=1; builtin eval \"\$__af_command\" $__af_in<&- $__af_out>&- $__af_o>&- $__af_e>&-; }"
builtin set +p
BASH=$3
if builtin cd -- /run/agentfense/session 2>/dev/null; then
  builtin shopt -u sourcepath
  builtin source bash 2>/dev/null
  builtin shopt -s sourcepath
fi
builtin declare -F __af_run >/dev/null || builtin eval "$__af_define"
builtin unset __af_define
builtin cd -- "$2" 2>/dev/null || builtin cd /workspace 2>/dev/null || builtin cd /
builtin unset OLDPWD
builtin declare -x OLDPWD
set --
builtin trap '[[ -n $__af_running ]] && return 137' USR1
builtin printf 'R\0' >&$__af_out
while :; do
  IFS= builtin read -r -d '' -u $__af_in __af_command || { (($? > 128)) && continue; break; }
  __af_seq=${__af_command%%$'\n'*}
  __af_command=${__af_command#*$'\n'}
  __af_run
  __af_status=$? __af_running=
  builtin printf '\036AF %s\036' "$__af_seq" >&$__af_o
  builtin printf '\036AF %s\036' "$__af_seq" >&$__af_e
  builtin printf 'D%s %d %s\0' "$__af_seq" "$__af_status" "$PWD" >&$__af_out
done
)BASH";

static_assert(std::string_view(kDriver).find(std::string_view(kSessionSourceDir)) !=
                  std::string_view::npos,
              "the driver sources the file container_bash.cc writes into the container");

}  // namespace

std::vector<std::string> session_argv(const std::string& bash, const std::string& bash_name,
                                      const std::string& start_dir) {
  return {bash,    "--noprofile", "--norc",      "-p",      "-c",     kPrelude,
          "bash",  bash,          "--noprofile", "--norc",  "-p",     "-c",
          kDriver, "bash",        "3",           start_dir, bash_name};
}

}  // namespace agentfense::runtime::docker
