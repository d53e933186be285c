#include "fs/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/errors.h"

namespace agentfense::fs {
namespace {
constexpr size_t kFlushThreshold = 64 * 1024;
}

AuditLog::AuditLog(const std::string& path)
    : fd_(static_cast<int>(check_syscall(
          ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600),
          "open audit log " + path))) {}

AuditLog::~AuditLog() {
  flush();
}

void AuditLog::append_line(std::string line) {
  std::lock_guard lock(mu_);
  buffer_ += line;
  buffer_ += '\n';
  if (buffer_.size() >= kFlushThreshold) flush_locked();
}

void AuditLog::flush() {
  std::lock_guard lock(mu_);
  flush_locked();
}

void AuditLog::flush_locked() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    // A failing audit disk must not take the filesystem down; the records are dropped.
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace agentfense::fs
