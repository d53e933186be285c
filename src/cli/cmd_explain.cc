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

class Explainer {
 public:
  Explainer(const policy::Policy& policy, bool all) : policy_(policy), all_(all) {}

  // Walks `dirfd` (the directory at workspace path `path`) and returns whether anything
  // beneath it is visible. Host access is fd-relative with O_NOFOLLOW: a symlink in the
  // codebase is reported, never followed.
  bool walk(int dirfd, const std::string& path) {
    std::vector<std::string> names;
    try {
      names = layer::list_names(dirfd);
    } catch (const SystemError& error) {
      throw SystemError("list " + path, error.code());
    }
    bool any_visible = false;
    for (const std::string& name : names) {
      struct stat st {};
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      any_visible |= visit(dirfd, name, layer::child_path(path, name), S_ISDIR(st.st_mode));
    }
    return any_visible;
  }

  void print() const {
    for (const auto& line : lines_) print_line(policy_, line);
  }

  const std::vector<policy::PathKind>& visited() const { return visited_; }

 private:
  bool visit(int parent_fd, const std::string& name, const std::string& path, bool is_dir) {
    const policy::Decision decision = policy_.decide(path, is_dir);
    visited_.push_back({path, is_dir});
    const size_t slot = lines_.size();
    lines_.push_back({path, "", decision.rule});
    bool child_visible = false;
    if (is_dir && (decision.level != policy::Level::kNone || decision.descendants_may_be_visible)) {
      UniqueFd fd(::openat(parent_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (fd) child_visible = walk(fd.get(), path);
    }
    const bool visible = decision.level != policy::Level::kNone || child_visible;
    if (decision.level != policy::Level::kNone) {
      lines_[slot].level = policy::to_string(decision.level);
    } else if (child_visible) {
      lines_[slot].level = "none (traversable)";
    } else if (all_) {
      lines_[slot].level = "none (hidden)";
    } else {
      // Drop the hidden path and anything its walk recorded.
      lines_.resize(slot);
    }
    return visible;
  }

  const policy::Policy& policy_;
  bool all_;
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
  explainer.walk(base.get(), "/");
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
