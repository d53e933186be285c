// `agentfense explain`: the codebase as the agent would see it, each path with its level
// and the rule that decided it — the tool for debugging a policy before trusting it.
//
// Output, one line per path, sorted:  LEVEL  PATH  <- RULE
// Hidden paths are listed only with --all, as "none (hidden)". A directory the agent sees
// only because it holds visible descendants is "none (traversable)".
// Then, on stderr, one "warning:" line per path where a none rule matches but a rule of
// lower or equal priority decides (policy/shadowed_none.h), with the fix.
// The names come from the codebase, where an agent's applied changes may have put them:
// they are quoted as git quotes them and the rest is escaped (as the run review does),
// so no name can draw, erase or reorder a row of the report a person checks a policy by.
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <optional>
#include <vector>

#include "cli/change_review.h"
#include "cli/commands.h"
#include "cli/policy_options.h"
#include "common/errors.h"
#include "common/text_safety.h"
#include "layer/safe_walk.h"
#include "policy/rule.h"
#include "policy/shadowed_none.h"
#include "supervisor/base_dir.h"

namespace agentfense::cli {
using supervisor::open_base_dir;
namespace {

struct ExplainArgs {
  PolicyOptions policy;
  std::string dir, path;
  bool all = false;
};

struct Line {
  std::string path;
  std::string level;
  int rule;
};

void print_line(const policy::Policy& policy, const Line& line) {
  const std::string rule = line.rule < 0 ? "(no rule matched: fail closed)"
                                         : policy::describe(policy.rules()[line.rule]);
  std::printf("%-18s %s  <- %s\n", line.level.c_str(), quote_path(line.path).c_str(),
              review_message(rule).c_str());
}

// Walks the codebase depth-first with an explicit stack (one frame per open directory),
// not recursion: a tree thousands of levels deep (an agent can have one applied) used to
// overflow the stack. Host access is fd-relative with O_NOFOLLOW: a symlink in the
// codebase is reported, never followed.
class Explainer {
 public:
  Explainer(const policy::Policy& policy, bool all) : policy_(policy), all_(all) {}

  void walk(int base_fd) {
    push(layer::reopen_dir(base_fd), "/", std::nullopt);
    while (!stack_.empty()) {
      Frame& top = stack_.back();
      if (top.next == top.names.size()) {
        pop();
        continue;
      }
      const std::string name = top.names[top.next++];
      struct stat st {};
      if (::fstatat(top.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      visit(top, name, S_ISDIR(st.st_mode));  // may push: `top` is not used after it
    }
  }

  void print() const {
    for (const auto& line : lines_) print_line(policy_, line);
  }

  const std::vector<policy::PathKind>& visited() const { return visited_; }

 private:
  // A path whose line waits for its level: a hidden directory's depends on what its
  // walk finds visible beneath it.
  struct Pending {
    size_t slot;  // its index in lines_
    policy::Level level;
  };

  // A directory being listed.
  struct Frame {
    UniqueFd fd;
    std::string path;
    std::vector<std::string> names;
    size_t next = 0;
    bool any_visible = false;      // anything beneath it visible so far
    std::optional<Pending> entry;  // its own line (none for the root)
  };

  void push(UniqueFd fd, const std::string& path, std::optional<Pending> entry) {
    std::vector<std::string> names;
    try {
      names = layer::list_names(fd.get());
    } catch (const SystemError& error) {
      throw SystemError("list " + path, error.code());
    }
    stack_.push_back({std::move(fd), path, std::move(names), 0, false, entry});
  }

  // A directory is done: its line gets its level, and its parent learns whether
  // anything in it was visible.
  void pop() {
    const bool child_visible = stack_.back().any_visible;
    const std::optional<Pending> entry = stack_.back().entry;
    stack_.pop_back();
    if (!entry) return;
    const bool visible = finish(*entry, child_visible);
    if (!stack_.empty()) stack_.back().any_visible |= visible;
  }

  void visit(Frame& parent, const std::string& name, bool is_dir) {
    const std::string path = layer::child_path(parent.path, name);
    const policy::Decision decision = policy_.decide(path, is_dir);
    visited_.push_back({path, is_dir});
    const Pending entry{lines_.size(), decision.level};
    lines_.push_back({path, "", decision.rule});
    if (is_dir && (decision.level != policy::Level::kNone || decision.descendants_may_be_visible)) {
      UniqueFd fd(
          ::openat(parent.fd.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (fd) {
        push(std::move(fd), path, entry);  // finished by pop()
        return;
      }
    }
    parent.any_visible |= finish(entry, false);
  }

  // Sets the level of `entry`'s line, or drops it (and the lines of its walk) when it is
  // hidden and not asked for. Returns whether it is visible.
  bool finish(const Pending& entry, bool child_visible) {
    const bool visible = entry.level != policy::Level::kNone || child_visible;
    if (entry.level != policy::Level::kNone) {
      lines_[entry.slot].level = policy::to_string(entry.level);
    } else if (child_visible) {
      lines_[entry.slot].level = "none (traversable)";
    } else if (all_) {
      lines_[entry.slot].level = "none (hidden)";
    } else {
      lines_.resize(entry.slot);
    }
    return visible;
  }

  const policy::Policy& policy_;
  bool all_;
  std::vector<Frame> stack_;
  std::vector<Line> lines_;
  std::vector<policy::PathKind> visited_;
};

void print_shadow_warnings(const policy::Policy& policy,
                           const std::vector<policy::PathKind>& paths) {
  std::fflush(stdout);  // the listing first when both go to one terminal
  for (const policy::ShadowedNone& shadow : policy::find_shadowed_none(policy, paths)) {
    const std::string warning = review_message(policy::shadow_warning(policy, shadow));
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  }
}

int run_explain(const ExplainArgs& args) {
  const policy::Policy compiled = args.policy.compile();
  const UniqueFd base = open_base_dir(args.dir);
  if (!args.path.empty()) {
    const std::string path = policy::normalize_path(args.path);
    struct stat st {};
    const bool is_dir = path == "/" || args.path.back() == '/' ||
                        (::fstatat(base.get(), path.c_str() + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                         S_ISDIR(st.st_mode));
    const policy::Decision decision = compiled.decide(path, is_dir);
    print_line(compiled, {path, std::string(policy::to_string(decision.level)), decision.rule});
    print_shadow_warnings(compiled, {{path, is_dir}});
    return 0;
  }
  Explainer explainer(compiled, args.all);
  explainer.walk(base.get());
  explainer.print();
  print_shadow_warnings(compiled, explainer.visited());
  return 0;
}

}  // namespace

Command add_explain_command(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  CLI::App* cmd = app.add_subcommand("explain", "Show each path's level and the deciding rule");
  args->policy.add_to(*cmd);
  cmd->add_flag("--all", args->all, "Also list hidden paths, marked 'none (hidden)'");
  cmd->add_option("DIR", args->dir, "Codebase directory")->required();
  cmd->add_option("PATH", args->path, "Explain only this workspace path");
  return [args] { return run_explain(*args); };
}

}  // namespace agentfense::cli
