#include "policy/reach_regex.h"

#include <algorithm>

#include "policy/char_class.h"

namespace agentfense::policy {
namespace {

// As glob_path_regex writes "**": zero or more non-empty segments.
std::string globstar_regex() {
  return "(?:/" + char_class_regex(any_segment_byte()) + "+)*";
}

// The path texts matched by the first i segments, for any i in `ends` (ascending),
// nested ("A(?:B(?:C)?)?") so that the text stays linear in the segments.
std::string prefixes_regex(const std::vector<std::string>& segments,
                           const std::vector<std::size_t>& ends) {
  if (ends.empty()) return {};
  std::string inner;
  for (std::size_t k = ends.size(); k-- > 1;) {
    std::string step;
    for (std::size_t i = ends[k - 1]; i < ends[k]; ++i) step += segments[i];
    inner = "(?:" + step + inner + ")?";
  }
  std::string head;
  for (std::size_t i = 0; i < ends[0]; ++i) head += segments[i];
  return head + inner;
}

std::string any_of(const std::vector<std::string>& pieces) {
  if (pieces.empty()) return {};
  std::string regex = "(?:";
  for (std::size_t i = 0; i < pieces.size(); ++i) regex += (i > 0 ? "|" : "") + pieces[i];
  return regex + ")";
}

// The NFA states i (subtree_reach.cc) that make matches_all_below
// true: the rest of the pattern is "**" only, or for a glob rule "**" and one lone "*".
std::vector<std::size_t> covering_ends(const GlobAlternative& alternative, PatternType type) {
  const std::string lone_star_regex = char_class_regex(any_segment_byte()) + "*";
  const std::size_t stars_allowed = type == PatternType::kDirectory ? 0 : 1;
  std::vector<std::size_t> ends;
  std::size_t stars = 0, globstars = 0;
  for (std::size_t i = alternative.size(); i-- > 0;) {
    const GlobSegment& segment = alternative[i];
    if (!segment.globstar && segment.regex != lone_star_regex) break;
    ++(segment.globstar ? globstars : stars);
    if (stars == 0 || (stars <= stars_allowed && globstars > 0)) ends.push_back(i);
  }
  std::reverse(ends.begin(), ends.end());
  return ends;
}

// The prefix lengths whose paths put subtree_reach.cc's NFA in `states` (ascending): in
// state i the first i segments matched, and a "**" there may have absorbed more, so
// state i of a "**" holds the paths of the first i + 1 segments.
std::vector<std::size_t> state_prefixes(const GlobAlternative& alternative,
                                        const std::vector<std::size_t>& states) {
  std::vector<std::size_t> ends;
  for (std::size_t i : states) {
    const std::size_t end = i < alternative.size() && alternative[i].globstar ? i + 1 : i;
    if (ends.empty() || ends.back() != end) ends.push_back(end);
  }
  return ends;
}

}  // namespace

ReachRegexes glob_reach_regexes(const std::vector<GlobAlternative>& alternatives,
                                PatternType type) {
  std::vector<std::string> below, cover;
  bool below_everywhere = false;
  for (const GlobAlternative& alternative : alternatives) {
    // State 0 of a leading "**" is live in every directory.
    below_everywhere = below_everywhere || (!alternative.empty() && alternative[0].globstar);
    std::vector<std::string> segments;
    for (const GlobSegment& segment : alternative)
      segments.push_back(segment.globstar ? globstar_regex() : "/" + segment.regex);
    // Some state short of the end is live: a segment may still follow.
    std::vector<std::size_t> live(alternative.size());
    for (std::size_t i = 0; i < live.size(); ++i) live[i] = i;
    if (!live.empty()) below.push_back(prefixes_regex(segments, state_prefixes(alternative, live)));
    const std::vector<std::size_t> covering = covering_ends(alternative, type);
    if (!covering.empty())
      cover.push_back(prefixes_regex(segments, state_prefixes(alternative, covering)));
    // A directory rule matching the directory or an ancestor covers the whole subtree.
    if (type == PatternType::kDirectory) {
      const std::string self_or_ancestor =
          prefixes_regex(segments, {alternative.size()}) + globstar_regex();
      below.push_back(self_or_ancestor);
      cover.push_back(self_or_ancestor);
    }
  }
  return {.below = any_of(below), .cover = any_of(cover), .below_everywhere = below_everywhere};
}

ReachRegexes file_reach_regexes(std::string_view path) {
  std::vector<std::string> segments;
  for (std::size_t start = 1; start < path.size();) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string segment = "/";
    for (char c : path.substr(start, slash - start))
      segment += literal_byte_regex(static_cast<unsigned char>(c));
    segments.push_back(std::move(segment));
    start = slash + 1;
  }
  // Every proper ancestor of the file: the first 0 .. n-1 segments.
  std::vector<std::size_t> ancestors(segments.size());
  for (std::size_t i = 0; i < ancestors.size(); ++i) ancestors[i] = i;
  if (ancestors.empty()) return {};  // the root itself: nothing is above it
  return {.below = any_of({prefixes_regex(segments, ancestors)}), .cover = {}};
}

}  // namespace agentfense::policy
