#include "server/server_instance.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/errors.h"

namespace agentfense::server {
namespace {

constexpr std::size_t kIdBytes = 8;

std::string random_id() {
  unsigned char bytes[kIdBytes];
  // getrandom of 8 bytes from the initialised pool never returns short.
  check_syscall(::getrandom(bytes, sizeof bytes, 0), "getrandom");
  std::string hex;
  char digits[3];
  for (const unsigned char b : bytes) {
    std::snprintf(digits, sizeof digits, "%02x", b);
    hex += digits;
  }
  return hex;
}

bool valid(const std::string& id) {
  return id.size() == kIdBytes * 2 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::string load_or_create_instance_id(const std::string& data_dir) {
  const std::string path = data_dir + "/instance-id";
  std::string id;
  std::ifstream existing(path);
  if (existing >> id && valid(id)) return id;
  id = random_id();
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
