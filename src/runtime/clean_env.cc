#include "runtime/clean_env.h"

#include "common/errors.h"
#include "runtime/command_aliases.h"
#include "runtime/etc_files.h"

namespace agentfense::runtime {
namespace {

void validate(const std::string& key, const std::string& value) {
  if (key.empty() || key.find_first_of(std::string("=\0", 2)) != std::string::npos)
    throw UserError("invalid environment variable name '" + key + "'");
  if (value.find('\0') != std::string::npos)
    throw UserError("environment variable " + key + " holds a NUL byte");
}

}  // namespace

std::vector<std::string> clean_environment(const std::map<std::string, std::string>& extra,
                                           const std::string& workdir) {
  std::map<std::string, std::string> env = {
      // Last: the aliases only fill in for commands the host lacks (command_aliases.h).
      {"PATH", std::string("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:") +
                   kCommandAliasDir},
      {"HOME", kAgentHome},
      {"LANG", "C.UTF-8"},
      {"USER", "agent"},
      {"LOGNAME", "agent"},
      {"TERM", "dumb"},
      {"PWD", workdir},
  };
  for (const auto& [key, value] : extra) {
    validate(key, value);
    env[key] = value;
  }
  std::vector<std::string> entries;
  for (const auto& [key, value] : env) entries.push_back(key + "=" + value);
  return entries;
}

}  // namespace agentfense::runtime
