// A commit must not turn a directory of the codebase into a git repository. git takes a
// directory for one wherever it runs (a shell prompt running `git status` on `cd output`,
// an editor opening the folder), and a repository's config names commands git then runs
// (core.fsmonitor, core.hooksPath, aliases): an agent that could write only output/
// laid it out as a bare repository with such a config, and after the apply the human's
// next git command in output/ ran the agent's command (attack sweep I, F18).
//
// git recognises a repository by a HEAD naming a ref or a commit, beside objects/ and
// refs/. Refusing that HEAD anywhere outside a `.git` directory (whose files the rules
// govern: docs/presets.md) breaks the layout at the one file git must be able to read.
#pragma once

#include <optional>
#include <string>

namespace agentfense::layer {

// Why the upper entry `name` in `upper_parent` (type 'f' or 'l'), to be committed into
// codebase directory `parent_path`, may not be, or nullopt when it may.
std::optional<std::string> git_head_refusal(int upper_parent, const std::string& name, char type,
                                            const std::string& parent_path);

}  // namespace agentfense::layer
