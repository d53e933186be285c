#include "runtime/credentials.h"

#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace agentfense::runtime {

namespace {

// The three calls that change ids, as glibc's process-wide wrappers or as raw syscalls.
struct IdCalls {
  int (*clear_groups)();
  int (*setresgid)(gid_t, gid_t, gid_t);
  int (*setresuid)(uid_t, uid_t, uid_t);
};

int process_clear_groups() {
  return ::setgroups(0, nullptr);
}
int process_setresgid(gid_t r, gid_t e, gid_t s) {
  return ::setresgid(r, e, s);
}
int process_setresuid(uid_t r, uid_t e, uid_t s) {
  return ::setresuid(r, e, s);
}
int task_clear_groups() {
  return static_cast<int>(::syscall(SYS_setgroups, 0, nullptr));
}
int task_setresgid(gid_t r, gid_t e, gid_t s) {
  return static_cast<int>(::syscall(SYS_setresgid, r, e, s));
}
int task_setresuid(uid_t r, uid_t e, uid_t s) {
  return static_cast<int>(::syscall(SYS_setresuid, r, e, s));
}

ChildFailure drop_with(const IdCalls& calls, uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) return {"refusing to run the sandbox as host root", EPERM};
  if (calls.clear_groups() < 0) return {"setgroups", errno};
  if (calls.setresgid(gid, gid, gid) < 0) return {"setresgid", errno};
  if (calls.setresuid(uid, uid, uid) < 0) return {"setresuid", errno};

  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (::getresuid(&ruid, &euid, &suid) < 0) return {"getresuid", errno};
  if (::getresgid(&rgid, &egid, &sgid) < 0) return {"getresgid", errno};
  if (ruid != uid || euid != uid || suid != uid) return {"uid did not change", EPERM};
  if (rgid != gid || egid != gid || sgid != gid) return {"gid did not change", EPERM};
  gid_t groups[1];
  if (::getgroups(1, groups) != 0) return {"supplementary groups remain", EPERM};
  if (calls.setresuid(0, 0, 0) == 0) return {"uid 0 could be regained", EPERM};
  return {};
}

}  // namespace

ChildFailure drop_privileges(uid_t uid, gid_t gid) {
  return drop_with({process_clear_groups, process_setresgid, process_setresuid}, uid, gid);
}

ChildFailure drop_task_privileges(uid_t uid, gid_t gid) {
  return drop_with({task_clear_groups, task_setresgid, task_setresuid}, uid, gid);
}

ChildFailure enforce_no_new_privs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return {"PR_SET_NO_NEW_PRIVS", errno};
  const int state = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (state < 0) return {"PR_GET_NO_NEW_PRIVS", errno};
  if (state != 1) return {"no_new_privs did not stick", EPERM};
  return {};
}

}  // namespace agentfense::runtime
