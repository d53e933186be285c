#include "cli/secret_arguments.h"

#include <cstring>
#include <string>

namespace agentfense::cli {

namespace {

void blank(char* value) {
  std::memset(value, 'x', std::strlen(value));
}

}  // namespace

bool blank_secret_arguments(int argc, char** argv, std::initializer_list<std::string_view> flags) {
  bool found = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;  // what follows is a command's, not ours
    for (const std::string_view flag : flags) {
      if (arg == flag && i + 1 < argc) {
        blank(argv[++i]);
        found = true;
        break;
      }
      if (arg.size() > flag.size() && arg.starts_with(flag) && arg[flag.size()] == '=') {
        blank(argv[i] + flag.size() + 1);
        found = true;
        break;
      }
    }
  }
  return found;
}

}  // namespace agentfense::cli
