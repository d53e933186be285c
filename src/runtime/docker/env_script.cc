#include "runtime/docker/env_script.h"

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

bool portable_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (const char c : name)
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      return false;
  return true;
}

}  // namespace

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

std::string export_script(const std::map<std::string, std::string>& env) {
  std::string script;
  for (const auto& [name, value] : env) {
    if (!portable_name(name))
      throw UserError("environment variable name '" + name +
                      "' is not a portable shell name ([A-Za-z_][A-Za-z0-9_]*), which the "
                      "docker runtime requires");
    if (value.find('\0') != std::string::npos)
      throw UserError("environment variable " + name + " holds a NUL byte");
    script += name + "=" + shell_quote(value) + "\nexport " + name + "\n";
  }
  return script;
}

}  // namespace agentfense::runtime::docker
