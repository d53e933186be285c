#include "runtime/session_driver_script.h"

#include <string_view>

#include "runtime/session_source_file.h"

namespace agentfense::runtime {
namespace {

// $1/$2 are the channel fds as we numbered them; they are moved to fds bash picks
// (>= 10, free) so they cannot collide with what a command redirects. The command runs
// with them closed, so its processes never inherit them (bash keeps its saved copies
// close-on-exec). $4, when set, is the fd of the shell's own execute-only binary: only
// needed for the exec, closed at once. The shell started like `bash -p`, so nothing in
// the session's env (BASH_ENV, ENV, SHELLOPTS, BASHOPTS, exported functions) ran or
// changed options before the loop; `set +p` then makes it an ordinary shell again, and
// BASH names the real bash rather than the path it was started from.
// `builtin` guards against a command redefining read/printf/eval as functions. A syntax
// error makes eval return 2 without leaving the loop; `exit` leaves it, and the shell's
// exit status is the session's.
// SIGUSR1 aborts the running command: the trap runs once the foreground job is dead
// (or at the next command of a builtin loop) and returns from the innermost function,
// which is __af_run unless the command is inside one of its own functions. A read
// interrupted by the signal (it raced the command's end) just reads again: no command
// is in flight then. The first line of a frame, "<seq> <nonce>", is echoed as is.
// __af_run is defined while sourcing the runtime's read-only file "bash"
// (session_source_file.h): bash then names the function's source "bash" and prints
// "bash: line 1: x: command not found" for the commands it evals, as for a script,
// instead of "environment: line 4: ...". Sourced by that relative name (sourcepath off,
// so PATH plays no part), from its directory, then back with PWD and OLDPWD as they
// were; without the file the function is defined directly.
// In a container, {__af_o}/{__af_e} are copies of the exec's stdout/stderr that no
// command can redirect or inherit: the fence "\x1eAF <seq> <nonce>\x1e" goes through
// them after each command, before the report.
constexpr std::string_view kOpen = R"DRIVER(exec {__af_in}<&"$1" {__af_out}>&"$2")DRIVER";
constexpr std::string_view kOpenFences = R"DRIVER( {__af_o}>&1 {__af_e}>&2)DRIVER";
constexpr std::string_view kDefineStart = R"DRIVER( || exit 125
builtin eval "exec $1<&- $2>&- ${4:+$4<&-}"
__af_define="__af_run() { __af_running=1; builtin eval \"\$__af_command\" $__af_in<&- $__af_out>&-)DRIVER";
constexpr std::string_view kCloseFences = R"DRIVER( $__af_o>&- $__af_e>&-)DRIVER";
constexpr std::string_view kSetup = R"DRIVER(; }"
builtin set +p
BASH=$5
__af_pwd=$PWD __af_oldpwd=${OLDPWD-}
if builtin cd -- /run/agentfense/session 2>/dev/null; then
  builtin shopt -u sourcepath
  builtin source bash 2>/dev/null
  builtin shopt -s sourcepath
  builtin cd -- "$__af_pwd"
  builtin unset OLDPWD
  builtin declare -x OLDPWD
  [[ -n $__af_oldpwd ]] && OLDPWD=$__af_oldpwd
fi
builtin declare -F __af_run >/dev/null || builtin eval "$__af_define"
builtin unset __af_define __af_pwd __af_oldpwd
)DRIVER";
constexpr std::string_view kStartDir = R"DRIVER([ -n "$3" ] && builtin cd -- "$3"
)DRIVER";
// A container's exec starts in /; OLDPWD is then unset (and exported once set) as in a
// fresh bash.
constexpr std::string_view kStartDirContainer =
    R"DRIVER(builtin cd -- "$3" 2>/dev/null || builtin cd /workspace 2>/dev/null || builtin cd /
builtin unset OLDPWD
builtin declare -x OLDPWD
)DRIVER";
constexpr std::string_view kLoop = R"DRIVER(set --
builtin trap '[[ -n $__af_running ]] && return 137' USR1
builtin printf 'R\0' >&$__af_out
while :; do
  IFS= builtin read -r -d '' -u $__af_in __af_command || { (($? > 128)) && continue; break; }
  __af_seq=${__af_command%%$'\n'*}
  __af_command=${__af_command#*$'\n'}
  __af_run
  __af_status=$? __af_running=
)DRIVER";
constexpr std::string_view kFences = R"DRIVER(  builtin printf '\036AF %s\036' "$__af_seq" >&$__af_o
  builtin printf '\036AF %s\036' "$__af_seq" >&$__af_e
)DRIVER";
constexpr std::string_view kReport =
    R"DRIVER(  builtin printf 'D%s %d %s\0' "$__af_seq" "$__af_status" "$PWD" >&$__af_out
done
)DRIVER";

static_assert(kSetup.find(kSessionSourceDir) != std::string_view::npos,
              "the driver sources the file session_source_file.h puts in the sandbox");

}  // namespace

std::string session_driver_script(const DriverScriptOptions& options) {
  const bool fences = options.container;
  std::string script;
  script += kOpen;
  if (fences) script += kOpenFences;
  script += kDefineStart;
  if (fences) script += kCloseFences;
  script += kSetup;
  script += options.container ? kStartDirContainer : kStartDir;
  script += kLoop;
  if (fences) script += kFences;
  script += kReport;
  return script;
}

}  // namespace agentfense::runtime
