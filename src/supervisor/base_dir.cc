#include "supervisor/base_dir.h"

#include <fcntl.h>

#include <cstring>

#include "common/errors.h"

namespace agentfense::supervisor {

UniqueFd open_base_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOTDIR) throw UserError("'" + dir + "' is not a directory");
    throw UserError("cannot open directory '" + dir + "': " + std::strerror(errno));
  }
  return fd;
}

}  // namespace agentfense::supervisor
