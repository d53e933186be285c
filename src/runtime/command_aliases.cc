#include "runtime/command_aliases.h"

#include <unistd.h>

#include <array>
#include <optional>

namespace agentfense::runtime {
namespace {

struct AliasWish {
  const char* name;
  const char* target;
};
constexpr std::array kWishes = {AliasWish{"python", "python3"}, AliasWish{"pip", "pip3"}};

// The default PATH's directories that come from the host (clean_env.cc), in order.
// /bin and /sbin are links into /usr on merged-/usr hosts, real directories elsewhere.
constexpr std::array kHostPathDirs = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                      "/usr/bin",        "/sbin",          "/bin"};

// The first executable `name` on the host PATH, as the sandbox reaches it.
std::optional<std::string> find_on_path(const char* name) {
  for (const char* dir : kHostPathDirs) {
    std::string path = std::string(dir) + "/" + name;
    // X_OK follows symlinks, like the shell's lookup (python3 -> python3.11).
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return std::nullopt;
}

}  // namespace

std::vector<CommandAlias> missing_command_aliases() {
  std::vector<CommandAlias> aliases;
  for (const AliasWish& wish : kWishes) {
    if (find_on_path(wish.name)) continue;
    if (std::optional<std::string> target = find_on_path(wish.target)) {
      aliases.push_back({wish.name, *target});
    }
  }
  return aliases;
}

}  // namespace agentfense::runtime
