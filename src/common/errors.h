// Error contract shared by every component:
//  * configuration/user-input errors (bad rule, bad policy file, bad flag) throw
//    agentfense::UserError whose what() is one line naming what was wrong; the CLI prints
//    it as "agentfense: <message>" and exits 2.
//  * system failures that abort an operation throw agentfense::SystemError carrying errno
//    and the step that failed ("mount /run/agentfense/x: Permission denied").
//  * FUSE operation handlers never throw: thin wrappers return -errno.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

namespace agentfense {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SystemError : public std::runtime_error {
 public:
  SystemError(const std::string& step, int err);
  int code() const { return code_; }

 private:
  int code_;
};

// Throws SystemError(step, errno) when rc < 0; returns rc otherwise.
long check_syscall(long rc, const std::string& step);

}  // namespace agentfense
