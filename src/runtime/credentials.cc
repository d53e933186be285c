#include "runtime/credentials.h"

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

namespace agentfense::runtime {

ChildFailure drop_privileges(uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) return {"refusing to run the sandbox as host root", EPERM};
  if (::setgroups(0, nullptr) < 0) return {"setgroups", errno};
  if (::setresgid(gid, gid, gid) < 0) return {"setresgid", errno};
  if (::setresuid(uid, uid, uid) < 0) return {"setresuid", errno};

  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (::getresuid(&ruid, &euid, &suid) < 0) return {"getresuid", errno};
  if (::getresgid(&rgid, &egid, &sgid) < 0) return {"getresgid", errno};
  if (ruid != uid || euid != uid || suid != uid) return {"uid did not change", EPERM};
  if (rgid != gid || egid != gid || sgid != gid) return {"gid did not change", EPERM};
  gid_t groups[1];
  if (::getgroups(1, groups) != 0) return {"supplementary groups remain", EPERM};
  if (::setresuid(0, 0, 0) == 0) return {"uid 0 could be regained", EPERM};
  return {};
}

ChildFailure enforce_no_new_privs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return {"PR_SET_NO_NEW_PRIVS", errno};
  const int state = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (state < 0) return {"PR_GET_NO_NEW_PRIVS", errno};
  if (state != 1) return {"no_new_privs did not stick", EPERM};
  return {};
}

}  // namespace agentfense::runtime
