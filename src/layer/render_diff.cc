// render_diff: git-style headers around line_diff hunks, for human review of a layer.
#include <cstdio>
#include <optional>

#include "common/text_safety.h"
#include "layer/changes.h"
#include "layer/entry_io.h"
#include "layer/line_diff.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

// Larger files are reported as differing without content: a review diff of a 100 MB
// artifact helps nobody and would hold it in memory twice.
constexpr size_t kMaxDiffBytes = 1 << 20;

// One side (base or upper) of a change.
struct Side {
  mode_t mode = 0;
  char type = 0;
  std::optional<std::string> content;  // nullopt: too large to show
};

std::optional<Side> load_side(int root_fd, const std::string& path) {
  const PathParts parts = split_path(path);
  UniqueFd parent = try_open_dir_beneath(root_fd, parts.parent);
  if (!parent) return std::nullopt;
  const std::optional<struct stat> st = stat_at(parent.get(), parts.name);
  if (!st) return std::nullopt;
  Side side{st->st_mode, type_char(st->st_mode), std::string()};
  if (side.type == 'f') side.content = read_file_at(parent.get(), parts.name, kMaxDiffBytes);
  // git shows a symlink as a one-line file holding its target, without a newline.
  if (side.type == 'l') side.content = read_link_at(parent.get(), parts.name);
  return side;
}

std::string octal_mode(mode_t mode) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%06o", static_cast<unsigned>(mode));
  return buffer;
}

// Text is what a reviewer and a UTF-8 wire format (proto3 strings, JSON) can carry.
bool looks_binary(const std::string& text) {
  return text.find('\0') != std::string::npos || !is_valid_utf8(text);
}

void render_one(const Change& change, bool readable, const std::optional<Side>& old_side,
                const std::optional<Side>& new_side, std::string& out) {
  const std::string a = quote_path("a" + change.path);
  const std::string b = quote_path("b" + change.path);
  out += "diff --git " + a + " " + b + "\n";
  if (!old_side && new_side) {
    out += (new_side->type == 'd' ? "new directory mode " : "new file mode ") +
           octal_mode(new_side->mode) + "\n";
  } else if (old_side && !new_side) {
    out += (old_side->type == 'd' ? "deleted directory mode " : "deleted file mode ") +
           octal_mode(old_side->mode) + "\n";
  } else if (old_side && new_side && old_side->mode != new_side->mode) {
    out += "old mode " + octal_mode(old_side->mode) + "\nnew mode " + octal_mode(new_side->mode) +
           "\n";
  }
  const bool old_has_text = old_side && (old_side->type == 'f' || old_side->type == 'l');
  const bool new_has_text = new_side && (new_side->type == 'f' || new_side->type == 'l');
  if (!old_has_text && !new_has_text) return;
  const std::optional<std::string> empty = std::string();
  const std::optional<std::string>& old_text = old_has_text ? old_side->content : empty;
  const std::optional<std::string>& new_text = new_has_text ? new_side->content : empty;
  const std::string old_label = old_has_text ? a : "/dev/null";
  const std::string new_label = new_has_text ? b : "/dev/null";
  if (!readable) {  // defence in depth: listed changes are writable, hence readable
    out += "Files " + old_label + " and " + new_label + " differ (not readable, not shown)\n";
    return;
  }
  if (!old_text || !new_text) {
    out += "Files " + old_label + " and " + new_label + " differ (larger than " +
           std::to_string(kMaxDiffBytes >> 20) + " MiB, not shown)\n";
    return;
  }
  if (looks_binary(*old_text) || looks_binary(*new_text)) {
    out += "Binary files " + old_label + " and " + new_label + " differ\n";
    return;
  }
  const std::string hunks = unified_hunks(*old_text, *new_text);
  if (hunks.empty()) return;
  out += "--- " + old_label + "\n+++ " + new_label + "\n" + hunks;
}

}  // namespace

std::string render_diff(int base_dirfd, const Journal& j, const Scope& scope,
                        const std::vector<Change>& changes, std::size_t not_listed,
                        const DiffGrowth& grown) {
  std::string out;
  std::size_t rendered = 0;
  for (; rendered < changes.size() && out.size() < kMaxDiffTotalBytes; ++rendered) {
    const Change& change = changes[rendered];
    std::optional<Side> old_side = load_side(base_dirfd, change.path);
    // An added entry over a base entry the sandbox removed with its directory (rm -rf d;
    // mkdir d; echo x > d/f) replaces that entry: the review shows what it replaces, as
    // a modification, so a reviewer does not take an overwrite for a new file. Unless
    // the base entry is one the rules hide (a directory-only rule): then it shows as new.
    if (change.kind == ChangeKind::kAdded && old_side &&
        !scope.readable(change.path, old_side->type == 'd'))
      old_side.reset();
    const std::optional<Side> new_side =
        change.kind == ChangeKind::kDeleted ? std::nullopt : load_side(j.upper_fd(), change.path);
    render_one(change, scope.readable(change.path, change.type == 'd'), old_side, new_side, out);
    if (grown) grown(out.size());
  }
  if (const std::size_t left = changes.size() - rendered + not_listed; left > 0) {
    out += "# diff cut after " + std::to_string(kMaxDiffTotalBytes >> 20) +
           " MiB: " + std::to_string(left) +
           " more changes not shown (select fewer paths to see them)\n";
  }
  return out;
}

}  // namespace agentfense::layer
