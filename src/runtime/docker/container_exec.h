// One command in a sandbox's container, with the bwrap runtime's semantics (exec.h):
// exact exit code, stdout and stderr apart, stdin, the caller's env, workdir, the output
// cap, live output, a timeout or cancel that kills the command's whole process tree (and
// only it: other commands of the sandbox run on), and, as under bwrap, no process of the
// command outliving it. An out-of-memory kill is reported as one (exit 137, oom_killed).
//
// The exec runs `/bin/sh -c PROLOGUE sh WORKDIR ARGV...`: the prologue holds until its
// cgroup is in place (exec_launch.h), reads the environment lines (env_script.h), cd's
// to WORKDIR and execs ARGV.
#pragma once

#include "runtime/docker/exec_launch.h"
#include "runtime/exec.h"

namespace agentfense::runtime::docker {

// Uses spec's argv, env, workdir, stdin_data/inherit_stdio, timeout, output_limit,
// on_output and cancel_fd; limits, network and ids are the container's. Throws UserError
// for a bad spec, ContainerGone / DockerUnavailable when the container cannot run it.
ExecResult run_in_container(const ExecTarget& target, const ExecSpec& spec);

// The exec's argv for `spec` (exposed for tests).
std::vector<std::string> one_shot_argv(const ExecSpec& spec);

}  // namespace agentfense::runtime::docker
