// A library that announces every process that loads it: its constructor appends
// "<pid> <exe>" to the file named by $AF_MARKER. Tests preload it (LD_PRELOAD, LD_AUDIT)
// through the command's environment and check which processes ran it: the command must,
// bwrap and our other helpers never. Plain C calls only, built without sanitizers, so it
// loads into anything.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

namespace {

__attribute__((constructor)) void announce() {
  const char* marker = getenv("AF_MARKER");
  if (!marker) return;
  char exe[256] = "?";
  const ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (length > 0) exe[length] = '\0';
  const int fd = open(marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) return;
  dprintf(fd, "%d %s\n", (int)getpid(), exe);
  close(fd);
}

}  // namespace

// Makes it a valid LD_AUDIT module too.
extern "C" unsigned int la_version(unsigned int version) {
  return version;
}
