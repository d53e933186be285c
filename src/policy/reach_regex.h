// Regexes over a directory's path text ("" for the root, else "/a/b") for the directories
// where a rule's RuleShape::reach may be true: `below` wherever may_match_below or
// may_match_child may be, `cover` wherever matches_all_below may be. Policy puts them in
// RE2::Sets so that a directory lookup computes the reach of only the rules they do not
// rule out (with 10,000 rules a lookup otherwise walked every rule: attack J9). The
// reach of each remaining rule is still computed, so these must never miss; they are
// written to match exactly where the reach is true, as subtree_reach.cc computes it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/glob.h"
#include "policy/rule.h"

namespace agentfense::policy {

struct ReachRegexes {
  std::string below;  // empty: no directory (the rule can match nothing beneath one)
  std::string cover;  // empty: no directory
  // `below` matches every directory (a pattern starting with "**"): kept out of the
  // index's automaton, where thousands of such rules only cost compile time.
  bool below_everywhere = false;
};

// For a glob or directory rule, `alternatives` as parsed by parse_glob.
ReachRegexes glob_reach_regexes(const std::vector<GlobAlternative>& alternatives, PatternType type);
// For a file rule naming exactly `path` (normalized): its proper ancestors; never covers.
ReachRegexes file_reach_regexes(std::string_view path);

}  // namespace agentfense::policy
