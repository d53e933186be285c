// Finds `none` rules that a path's deciding rule silently overrides.
//
// The precedence order is the contract (policy.h): at equal priority a file rule beats a
// glob, a longer literal prefix beats a shorter one, a later rule beats an earlier one.
// So `[{"/src/**": read}, {"**/.env": none}]` leaves /src/.env readable, although whoever
// wrote it most likely meant the secret hidden. The order stays; this analysis makes the
// outcome visible: for each existing path where a none rule matches but a non-none rule
// of lower or equal priority decides, it names the path, both rules and the fix.
//
// Pure like the rest of the engine: callers walk their tree and pass the paths in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace agentfense::policy {

struct ShadowedNone {
  std::string path;
  int none_rule = -1;      // index into Policy::rules(): the best-ranked shadowed none rule
  int deciding_rule = -1;  // the non-none rule that decides the path instead
};

struct PathKind {
  std::string path;  // normalized, as for Policy::decide()
  bool is_dir = false;
};

// Answers per directory and per path in work linear in the rule count: no pair of
// rules is ever listed (5,000 none and 5,000 read rules at one priority once made 25M
// pairs, 0.5 GB, rescanned for every directory of a CreateSandbox walk).
class ShadowFinder {
 public:
  explicit ShadowFinder(const Policy& policy);

  // False when no pair of rules can shadow a none rule (the usual case: presets give
  // their hiding rules a higher priority): a caller then need not walk anything.
  bool possible() const { return !groups_.empty(); }
  // False when no path strictly beneath directory `dir_path` can be shadowed, so a walk
  // may skip the subtree.
  bool may_occur_below(std::string_view dir_path);
  // The shadowing at one path, if any.
  std::optional<ShadowedNone> at(std::string_view path, bool is_dir);
  // Work done so far, in rule checks (a rule's reach below a directory, or a rule
  // matching a path): a caller bounds its pass with it, whatever the rules and tree.
  std::size_t steps() const { return steps_; }

 private:
  // The rules of one priority at which a granting rule outranks a none rule: the only
  // places a none rule can be shadowed (precedence compares priority first).
  struct Group {
    std::vector<int> none_by_rank;      // none rules some granting rule outranks, worst first
    std::vector<int> granting_by_rank;  // granting rules outranking some none rule, best first
  };
  bool may_occur_below(const Group& group, std::string_view dir_path);

  const Policy& policy_;
  std::vector<Group> groups_;
  std::size_t steps_ = 0;
};

// Every shadowed path among `paths`, in their order.
std::vector<ShadowedNone> find_shadowed_none(const Policy& policy,
                                             const std::vector<PathKind>& paths);

// "rule 2 (**/.env -> none) is overridden at /src/.env by rule 1 (/src/** -> read): give
// rule 2 priority >= 1" (rule numbers 1-based, as in the list the user wrote).
std::string shadow_warning(const Policy& policy, const ShadowedNone& shadow);

// Warnings for `shadows`, at most `limit` (>= 1): when there are more, the last one
// counts the rest per pair of rules and still says how to fix them.
std::vector<std::string> shadow_warnings(const Policy& policy,
                                         const std::vector<ShadowedNone>& shadows,
                                         std::size_t limit);

}  // namespace agentfense::policy
