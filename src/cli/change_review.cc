#include "cli/change_review.h"

#include <cstdio>

#include "common/errors.h"
#include "layer/changes.h"
#include "layer/journal.h"

namespace agentfense::cli {
namespace {

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

void print_refused(const char* heading, const std::vector<std::string>& paths,
                   const std::map<std::string, std::string>& reasons) {
  for (const auto& path : paths) {
    const auto reason = reasons.find(path);
    std::fprintf(stderr, "agentfense: %s %s%s%s\n", heading, path.c_str(),
                 reason == reasons.end() ? "" : ": ",
                 reason == reasons.end() ? "" : reason->second.c_str());
  }
}

}  // namespace

ChangeMode parse_change_mode(const std::string& text) {
  if (text == "show") return ChangeMode::kShow;
  if (text == "apply") return ChangeMode::kApply;
  if (text == "discard") return ChangeMode::kDiscard;
  throw UserError("--changes must be show, apply or discard, got '" + text + "'");
}

bool review_changes(ChangeMode mode, int base_dirfd, const std::string& state_dir,
                    const policy::Policy& policy) {
  auto journal = layer::Journal::open(state_dir);
  if (mode == ChangeMode::kDiscard) {
    layer::discard(*journal);
    return true;
  }
  const auto changes = layer::list_changes(base_dirfd, *journal);
  if (changes.empty()) return true;
  std::fprintf(stderr, "agentfense: %zu change(s):\n", changes.size());
  for (const auto& change : changes)
    std::fprintf(stderr, "%c %s\n", kind_letter(change.kind), change.path.c_str());
  if (mode == ChangeMode::kShow) {
    const std::string diff = layer::render_diff(base_dirfd, *journal, changes);
    std::fwrite(diff.data(), 1, diff.size(), stderr);
    std::fprintf(stderr, "agentfense: not applied (use --changes apply)\n");
    return true;
  }
  const auto may_write = [&policy](std::string_view path, bool is_dir) {
    return policy.decide(path, is_dir).level == policy::Level::kWrite;
  };
  const auto result = layer::commit(base_dirfd, *journal, may_write);
  std::fprintf(stderr, "agentfense: applied %zu change(s)\n", result.applied.size());
  print_refused("not applied (denied)", result.denied, result.reasons);
  print_refused("not applied (conflict)", result.conflicts, result.reasons);
  return result.denied.empty() && result.conflicts.empty();
}

}  // namespace agentfense::cli
