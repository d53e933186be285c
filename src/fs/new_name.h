// The decision a new name is checked against (create, mkdir, mknod, symlink, link and
// the target of rename), before anything on the host is looked at.
#pragma once

#include <string_view>

#include "policy/policy.h"

namespace agentfense::fs {

// `path` decided for an entry of the new entry's type, except that a name which a rule
// hides *as a directory* (a directory-type rule such as `private/=none`, which does not
// match non-directories) cannot be given to a non-directory either: answering by the
// file's level would succeed for an absent name and fail with EEXIST (or ESTALE, EISDIR)
// when the hidden directory exists, which tells the agent that it does. Both now answer
// as the hidden directory does, EACCES, and a file cannot stand in for the hidden
// directory (a `.git` file when `.git/` is hidden).
policy::Decision decide_new_name(const policy::Policy& policy, std::string_view path, bool is_dir);

}  // namespace agentfense::fs
