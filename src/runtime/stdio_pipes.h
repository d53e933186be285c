// The pipes between the supervisor and the sandboxed command's stdin/stdout/stderr.
// Our ends are non-blocking (driven by IoPump's poll loop); the child's ends are
// dup'ed onto 0/1/2 in the child and must be closed here right after the fork, or we
// would never see EOF.
#pragma once

#include <optional>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::runtime {

struct Pipe {
  UniqueFd parent_end, child_end;
};

struct StdioPipes {
  Pipe in, out, err;
  UniqueFd dev_null;  // the child's stdin when there is no stdin data

  // inherit: no pipes at all (the child keeps our 0/1/2).
  static StdioPipes create(bool inherit, bool has_stdin_data);

  // The fds the child dup's onto 0/1/2; -1 = keep ours.
  int child_stdin() const { return in.child_end ? in.child_end.get() : dev_null.get(); }
  int child_stdout() const { return out.child_end.get(); }
  int child_stderr() const { return err.child_end.get(); }

  void close_child_ends();
};

}  // namespace agentfense::runtime
