// The decision a new name is checked against (create, mkdir, mknod, symlink, link and
// the target of rename), before anything on the host is looked at.
#pragma once

#include <sys/stat.h>

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

// Whether a new directory at `path` meets an existing entry the agent cannot see: a base
// non-directory that a directory-only rule (`out/=write`, matching no file `out`) leaves
// hidden. The directory is then made as over an absent name (in the upper layer, over
// it): failing with EEXIST or ENOTDIR only when the file exists would tell the agent it
// does. The file stays in the codebase; the commit keeps it and refuses the directory.
bool hidden_under_new_dir(const policy::Policy& policy, std::string_view path,
                          const struct stat& existing);

}  // namespace agentfense::fs
