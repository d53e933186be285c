#include "cli/mcp/http_token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/errors.h"
#include "common/random_hex.h"
#include "common/unique_fd.h"

namespace agentfense::cli::mcp {
namespace {

constexpr std::size_t kTokenBytes = 32;  // 256 bits
// A chosen token must be a secret too (at least 128 bits as hex) and fit in a header line.
constexpr std::size_t kShortestToken = 32;
constexpr std::size_t kLongestToken = 1024;

// Visible ASCII only: it travels in a header, and bearer_token() ends it at a space.
bool usable_token(const std::string& token) {
  if (token.size() < kShortestToken || token.size() > kLongestToken) return false;
  for (const char c : token)
    if (c < '!' || c > '~') return false;
  return true;
}

}  // namespace

HttpToken::HttpToken(const std::string& token_file) {
  if (const char* chosen = std::getenv(kTokenVariable)) {
    value_ = chosen;
    if (!usable_token(value_))
      throw UserError(std::string("$") + kTokenVariable + " must be " +
                      std::to_string(kShortestToken) + " to " + std::to_string(kLongestToken) +
                      " visible ASCII characters, no spaces (a secret: e.g. `openssl rand "
                      "-hex 32`)");
    hint_ = std::string("'Authorization: Bearer $") + kTokenVariable + "'";
  } else {
    value_ = random_hex(kTokenBytes);
    hint_ = "'Authorization: Bearer " + value_ + "'";
  }
  if (!token_file.empty()) {
    write_file(token_file);
    hint_ = "'Authorization: Bearer TOKEN' with the TOKEN in " + token_file;
  }
}

// O_EXCL: a file that existed may have been opened by someone else already (or be a
// link to where they can read), so only a file created here, 0600, holds the token.
void HttpToken::write_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    const int err = errno;
    if (err == EEXIST)
      throw UserError("--http-token-file " + path +
                      ": already exists; the token goes only into a file created new, "
                      "readable by its owner alone (remove it or name another)");
    throw UserError("--http-token-file " + path + ": cannot create it: " + std::strerror(err));
  }
  struct stat created {};
  try {
    check_syscall(::fstat(fd.get(), &created), "fstat " + path);
    // The mode asked for at open is narrowed by the umask, never widened; this makes it
    // exactly 0600 whatever the umask.
    check_syscall(::fchmod(fd.get(), 0600), "chmod " + path);
    for (std::size_t done = 0; done < value_.size();) {
      const ssize_t wrote = ::write(fd.get(), value_.data() + done, value_.size() - done);
      if (wrote < 0 && errno == EINTR) continue;
      check_syscall(wrote, "write " + path);
      done += static_cast<std::size_t>(wrote);
    }
  } catch (...) {
    (void)::unlink(path.c_str());  // created just now: no half-written token stays
    throw;
  }
  file_ = path;
  file_dev_ = created.st_dev;
  file_ino_ = created.st_ino;
}

HttpToken::~HttpToken() {
  if (file_.empty()) return;
  // Only the file this created: another put in its place meanwhile is not ours to remove.
  struct stat now {};
  if (::lstat(file_.c_str(), &now) == 0 && now.st_dev == file_dev_ && now.st_ino == file_ino_)
    (void)::unlink(file_.c_str());
}

}  // namespace agentfense::cli::mcp
