// The bash that a docker session runs, in two stages:
//  1. the prelude writes kReadyMarker (exec_launch.h), reads "<port> <token>" from its
//     stdin, opens the channel and its stdout and stderr connections (session_link.h,
//     shell_output.h) with /dev/tcp, presenting the token on each, points stdin at
//     /dev/null and stdout/stderr at those connections, and execs stage 2 with the
//     channel as fd 3;
//  2. the driver loop every runtime runs (session_driver_script.h), in its container
//     form: a fence (fence_filter.h) on stdout and stderr after each command.
// Both stages run from the execute-only copy of the image's bash (container_bash.h),
// started like `bash -p`, with no variable of the caller: the session's env is sent as
// the first (silent) command.
#pragma once

#include <string>
#include <vector>

namespace agentfense::runtime::docker {

// The exec's argv: `bash` is the execute-only copy, `bash_name` what $BASH should say,
// `start_dir` where to start (/workspace when it cannot be entered).
std::vector<std::string> session_argv(const std::string& bash, const std::string& bash_name,
                                      const std::string& start_dir);

}  // namespace agentfense::runtime::docker
