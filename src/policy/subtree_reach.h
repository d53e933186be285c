// What one rule can say about the paths strictly beneath a directory, from its pattern
// alone. Policy uses it for Decision::descendants_may_be_visible (a directory whose own
// level is none must still be traversable when some rule could grant access below it)
// and Decision::children_may_be_writable (a directory must be presented writable when a
// name directly in it may be created or removed).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/glob.h"
#include "policy/rule.h"

namespace re2 {
class RE2;
}

namespace agentfense::policy {

struct SubtreeReach {
  // Some path strictly beneath the directory may match the rule (conservative: true
  // whenever the segments seen so far do not rule it out).
  bool may_match_below = false;
  // Every path strictly beneath the directory matches the rule.
  bool matches_all_below = false;
  // Some direct child of the directory (a file or a directory, any name) may match the
  // rule (conservative in the same way as may_match_below).
  bool may_match_child = false;
};

class RuleShape {
 public:
  // A glob or directory rule; `alternatives` as parsed by parse_glob.
  RuleShape(const std::vector<GlobAlternative>& alternatives, PatternType type);
  // A file rule naming exactly `path` (normalized).
  explicit RuleShape(std::string path);

  RuleShape(RuleShape&&) noexcept;
  RuleShape& operator=(RuleShape&&) noexcept;
  ~RuleShape();

  // `dir_segments` are the segments of the normalized directory path `dir_path`.
  SubtreeReach reach(const std::vector<std::string_view>& dir_segments,
                     std::string_view dir_path) const;

 private:
  struct Segment {
    bool globstar = false;
    bool any_name = false;  // a lone "*": matches every name
    // A segment with wildcards; null otherwise. Shared by the rule's alternatives that
    // have the same segment (a pattern's brace groups multiply its alternatives, not its
    // distinct segments).
    std::shared_ptr<const re2::RE2> matcher;
    std::string literal;  // a segment without: the one name it matches
    bool matches(std::string_view name) const;
  };
  using Alternative = std::vector<Segment>;

  SubtreeReach glob_reach(const Alternative& alternative,
                          const std::vector<std::string_view>& dir_segments) const;

  PatternType type_;
  std::vector<Alternative> alternatives_;
  std::string file_path_;  // only for PatternType::kFile
};

// The segments of a normalized path ("/" has none).
std::vector<std::string_view> path_segments(std::string_view normalized_path);

}  // namespace agentfense::policy
