#include "layer/git_layout.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/entry_io.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

constexpr std::size_t kHeadPrefix = 64;  // a SHA-256 object id; "ref: refs/" is shorter

bool inside_git_dir(const std::string& parent_path) {
  const std::vector<std::string> segments = path_segments(parent_path);
  return std::find(segments.begin(), segments.end(), ".git") != segments.end();
}

// What git's HEAD check accepts: "ref: refs/..." or an object id (40 or 64 hex digits).
bool names_a_ref_or_commit(std::string_view text) {
  if (text.starts_with("ref:")) return true;
  std::size_t hex = 0;
  while (hex < text.size() && std::isxdigit(static_cast<unsigned char>(text[hex]))) ++hex;
  return hex >= 40;
}

std::string head_of_file(int upper_parent, const std::string& name) {
  const UniqueFd file = open_file_for_read(upper_parent, name);
  std::string text(kHeadPrefix, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(file.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    check_syscall(n, "read " + name);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace

std::optional<std::string> git_head_refusal(int upper_parent, const std::string& name, char type,
                                            const std::string& parent_path) {
  if (name != "HEAD" || inside_git_dir(parent_path)) return std::nullopt;
  // An old git's HEAD may be a symlink to refs/heads/<branch>.
  const bool git_head = type == 'l' ? read_link_at(upper_parent, name).starts_with("refs/")
                                    : names_a_ref_or_commit(head_of_file(upper_parent, name));
  if (!git_head) return std::nullopt;
  return "a HEAD naming a git ref or commit outside .git would make " + parent_path +
         " a git repository, whose config git runs commands from";
}

}  // namespace agentfense::layer
