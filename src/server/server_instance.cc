#include "server/server_instance.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "common/errors.h"
#include "common/random_hex.h"

namespace agentfense::server {
namespace {

constexpr std::size_t kIdBytes = 8;

bool valid(const std::string& id) {
  return id.size() == kIdBytes * 2 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::string load_or_create_instance_id(const std::string& data_dir) {
  const std::string path = data_dir + "/instance-id";
  std::string id;
  std::ifstream existing(path);
  if (existing >> id && valid(id)) return id;
  id = random_hex(kIdBytes);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << id << "\n";
    if (!out.flush()) throw SystemError("write " + temporary, errno ? errno : EIO);
  }
  check_syscall(::rename(temporary.c_str(), path.c_str()), "rename " + temporary);
  return id;
}

}  // namespace agentfense::server
