// Buffered, thread-safe JSON-lines writer for access decisions. Lines are appended in
// memory and written in large chunks (and at destruction), so auditing costs a mutex and
// a string append on the hot path, not a write(2).
#pragma once

#include <mutex>
#include <string>

#include "common/unique_fd.h"

namespace agentfense::fs {

class AuditLog {
 public:
  // Opens (appending, creating 0600) `path`; throws SystemError on failure.
  explicit AuditLog(const std::string& path);
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  ~AuditLog();

  void append_line(std::string line);  // `line` without the trailing newline
  void flush();

 private:
  void flush_locked();

  std::mutex mu_;
  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace agentfense::fs
