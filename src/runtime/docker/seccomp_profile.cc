#include "runtime/docker/seccomp_profile.h"

#include <sys/personality.h>
#include <sys/socket.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "runtime/seccomp_rules.h"

namespace agentfense::runtime::docker {

std::string seccomp_profile_json() {
  nlohmann::json rules = nlohmann::json::array();
  nlohmann::json denied = nlohmann::json::array();
  for (const char* name : kDeniedSyscalls) denied.push_back(name);
  rules.push_back({{"names", denied}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", EPERM}});
  for (const unsigned long flag : kNamespaceCloneFlags)
    rules.push_back(
        {{"names", {"clone"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"errnoRet", EPERM},
         {"args",
          {{{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  rules.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  rules.push_back({{"names", {"socket"}},
                   {"action", "SCMP_ACT_ERRNO"},
                   {"errnoRet", EAFNOSUPPORT},
                   {"args", {{{"index", 0}, {"value", AF_VSOCK}, {"op", "SCMP_CMP_EQ"}}}}});
  rules.push_back({{"names", {"personality"}},
                   {"action", "SCMP_ACT_ERRNO"},
                   {"errnoRet", EPERM},
                   {"args", {{{"index", 0}, {"value", PER_LINUX}, {"op", "SCMP_CMP_NE"}}}}});
  const nlohmann::json profile = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"architectures", {"SCMP_ARCH_X86_64"}},
                                  {"syscalls", rules}};
  return profile.dump();
}

}  // namespace agentfense::runtime::docker
