// agentfense-scope PROGRAM [ARG...]: runs PROGRAM in a Landlock domain of its own
// (runtime/landlock_domain.h). The Docker runtime copies it execute-only into each
// sandbox's container and starts every command through it. Linked statically: nothing it
// needs may come from the image. Exits 125 without running PROGRAM when the domain
// cannot be entered: a command must never run unscoped by accident.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime/landlock_domain.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: agentfense-scope PROGRAM [ARG...]\n", stderr);
    return 125;
  }
  if (const int error = agentfense::runtime::enter_landlock_domain(); error != 0) {
    std::fprintf(stderr, "agentfense-scope: cannot enter a Landlock domain: %s\n",
                 std::strerror(error));
    return 125;
  }
  ::execv(argv[1], argv + 1);
  std::fprintf(stderr, "agentfense-scope: %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
