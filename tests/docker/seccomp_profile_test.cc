// The container's seccomp profile says what the bwrap filter says (one list).
#include "runtime/docker/seccomp_profile.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "runtime/seccomp_rules.h"

namespace agentfense::runtime::docker {
namespace {

TEST(SeccompProfile, RefusesWhatTheBwrapFilterRefuses) {
  const nlohmann::json profile = nlohmann::json::parse(seccomp_profile_json());
  EXPECT_EQ(profile["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_EQ(profile["architectures"], nlohmann::json({"SCMP_ARCH_X86_64"}));
  std::set<std::string> denied;
  int clone_rules = 0;
  bool vsock = false, personality = false, clone3 = false;
  for (const auto& rule : profile["syscalls"]) {
    ASSERT_EQ(rule["action"], "SCMP_ACT_ERRNO");
    for (const auto& name : rule["names"]) {
      if (!rule.contains("args")) denied.insert(name.get<std::string>());
      if (name == "clone" && rule.contains("args")) ++clone_rules;
      if (name == "socket") vsock = rule["args"][0]["value"] == 40 && rule["errnoRet"] == 97;
      if (name == "personality") personality = rule["args"][0]["op"] == "SCMP_CMP_NE";
      if (name == "clone3") clone3 = rule["errnoRet"] == 38;
    }
  }
  for (const char* name : kDeniedSyscalls) EXPECT_TRUE(denied.count(name)) << name;
  EXPECT_EQ(clone_rules, static_cast<int>(kNamespaceCloneFlags.size()));
  EXPECT_TRUE(vsock && personality && clone3);
}

}  // namespace
}  // namespace agentfense::runtime::docker
