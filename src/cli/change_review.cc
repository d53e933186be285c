#include "cli/change_review.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "cli/progress_bar.h"
#include "common/errors.h"
#include "common/text_safety.h"
#include "layer/changes.h"
#include "layer/entry_io.h"
#include "layer/journal.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"
#include "layer/state_lock.h"
#include "layer/tree_bytes.h"

namespace agentfense::cli {
namespace {

// Fewer changes apply in the blink of an eye: no bar for them.
constexpr std::size_t kProgressBarChanges = 100;

char kind_letter(layer::ChangeKind kind) {
  switch (kind) {
    case layer::ChangeKind::kAdded:
      return 'A';
    case layer::ChangeKind::kModified:
      return 'M';
    case layer::ChangeKind::kDeleted:
      return 'D';
  }
  return '?';
}

// Everything printed here came out of the sandbox (names, content, reasons quoting
// them): names are quoted as git quotes them and no control character reaches the
// reviewer's terminal.
void print_line(const std::string& text) {
  const std::string safe = terminal_safe(text);
  std::fprintf(stderr, "%s\n", safe.c_str());
}

void print_with_reasons(const char* heading, const std::vector<std::string>& paths,
                        const std::map<std::string, std::string>& reasons, std::size_t omitted) {
  for (const auto& path : paths) {
    const auto reason = reasons.find(path);
    print_line(std::string("agentfense: ") + heading + " " + quote_path(path) +
               (reason == reasons.end() ? "" : ": " + review_message(reason->second)));
  }
  if (omitted > 0) std::fprintf(stderr, "agentfense: %s: %zu more not listed\n", heading, omitted);
}

// The command's own output went to the same terminal just before, and may have left it
// in a state that hides or garbles what follows: concealed or invisible text (SGR 8, or
// a colour on itself), the DEC line-drawing character set, the alternate screen, a
// scroll region, a hidden cursor. The review is what the person decides on, so it starts
// from a sane terminal: attributes reset, ASCII in G0 and shifted in, the main screen,
// the whole screen scrolling, the cursor shown, on a line of its own.
void restore_terminal() {
  if (::isatty(STDERR_FILENO) != 1) return;
  // First CAN and ST: an escape sequence or string (OSC, DCS) the command left open would
  // otherwise swallow the review (into the window title, say). Then the attributes, the
  // character set, the main screen, the scroll region, the cursor, no open hyperlink
  // (OSC 8), and the terminal's own colours (OSC 110/111: a command can set text and
  // background alike, and the review would be drawn invisible).
  static constexpr char kSane[] =
      "\x18\x1b\\\x1b[0m\x1b(B\x0f\x1b[?1049l\x1b[r\x1b[?25h\x1b]8;;\x1b\\\x1b]110\x1b\\"
      "\x1b]111\x1b\\\r\n";
  std::fwrite(kSane, 1, sizeof kSane - 1, stderr);
}

// " -> target" for a symlink the sandbox made: on the host a link is followed by whatever
// follows links, so the reviewer sees where it leads before applying it, not only in
// --changes show's diff (attack sweep I, F11).
std::string link_target_shown(int upper_fd, const layer::Change& change) {
  if (change.type != 'l' || change.kind == layer::ChangeKind::kDeleted) return {};
  const layer::PathParts parts = layer::split_path(change.path);
  const UniqueFd parent = layer::try_open_dir_beneath(upper_fd, parts.parent);
  if (!parent) return {};
  try {
    return " -> " + quote_path(layer::read_link_at(parent.get(), parts.name));
  } catch (const SystemError&) {
    return {};  // gone or not a link: the line names the change all the same
  }
}

}  // namespace

std::string review_path(const std::string& wire_path) {
  try {
    return quote_path(path_from_wire(wire_path));
  } catch (const UserError&) {
    return quote_path(wire_path);  // not a quoted path after all: show it as it came
  }
}

std::string review_message(const std::string& text) {
  // A reason names paths and symlink targets raw ("symlink target is absolute (/x\n
  // agentfense: applied 0 change(s))" printed a line of its own); messages the server
  // already escaped pass unchanged.
  return escape_text(text, {.keep_line_breaks = false, .escape_backslash = false});
}

ChangeMode parse_change_mode(const std::string& text) {
  if (text == "show") return ChangeMode::kShow;
  if (text == "apply") return ChangeMode::kApply;
  if (text == "discard") return ChangeMode::kDiscard;
  throw UserError("--changes must be show, apply or discard, got '" + text + "'");
}

bool review_changes(ChangeMode mode, int base_dirfd, const std::string& state_dir,
                    const policy::Policy& policy, std::uint64_t max_apply_bytes) {
  // The fs process has exited; this keeps any other from serving the layer meanwhile.
  const layer::StateLock held = layer::StateLock::acquire(state_dir);
  auto journal = layer::Journal::open(state_dir);
  if (mode == ChangeMode::kDiscard) {
    layer::discard(*journal);
    return true;
  }
  const layer::Scope scope(policy);
  // A layer may name a million paths: the review lists the first 4 MiB of them.
  std::size_t omitted = 0;
  const auto changes = layer::list_first_changes(base_dirfd, *journal, scope, &omitted);
  if (changes.empty()) return true;
  restore_terminal();
  std::fprintf(stderr, "agentfense: %zu change(s):\n", changes.size() + omitted);
  for (const auto& change : changes)
    print_line(std::string(1, kind_letter(change.kind)) + " " + quote_path(change.path) +
               link_target_shown(journal->upper_fd(), change));
  if (omitted > 0) std::fprintf(stderr, "agentfense: ... and %zu more not listed\n", omitted);
  if (mode == ChangeMode::kShow) {
    const std::string diff =
        terminal_safe(layer::render_diff(base_dirfd, *journal, scope, changes, omitted));
    std::fwrite(diff.data(), 1, diff.size(), stderr);
    std::fprintf(stderr, "agentfense: not applied (use --changes apply)\n");
    return true;
  }
  if (max_apply_bytes != 0) {
    // 20 hard links of a 500 MiB file fit an 8 GiB quota and would write 10 GiB here.
    const auto bytes = static_cast<std::uint64_t>(layer::file_bytes_below(journal->upper_fd()));
    if (bytes > max_apply_bytes) {
      std::fprintf(stderr,
                   "agentfense: not applied: the changes would write %llu bytes (a hard-linked "
                   "file is copied once per name), more than the %llu bytes of --disk; the "
                   "layer was discarded\n",
                   static_cast<unsigned long long>(bytes),
                   static_cast<unsigned long long>(max_apply_bytes));
      return false;
    }
  }
  layer::CommitResult result;
  {
    ProgressBar bar("applying", kProgressBarChanges);
    result =
        layer::commit(base_dirfd, *journal, scope, {},
                      [&bar](std::size_t done, std::size_t total) { bar.update(done, total); });
  }
  std::fprintf(stderr, "agentfense: applied %zu change(s)\n",
               result.applied.size() + result.applied_omitted);
  for (const auto& [path, note] : result.notes)
    print_line("agentfense: note: " + quote_path(path) + " " + review_message(note));
  print_with_reasons("not applied (denied)", result.denied, result.reasons, result.denied_omitted);
  print_with_reasons("not applied (conflict)", result.conflicts, result.reasons,
                     result.conflicts_omitted);
  return result.denied.empty() && result.conflicts.empty();
}

}  // namespace agentfense::cli
