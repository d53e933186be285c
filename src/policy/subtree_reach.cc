#include "policy/subtree_reach.h"

#include <re2/re2.h>

#include <map>

#include "policy/char_class.h"
#include "policy/re2_options.h"

namespace agentfense::policy {
namespace {

// One segment's regex, with kSegmentMemory unless its program needs more (re2_options.h).
std::shared_ptr<const re2::RE2> segment_matcher(const std::string& regex) {
  auto matcher = std::make_shared<const re2::RE2>(regex, path_regex_options(kSegmentMemory));
  if (matcher->error_code() != re2::RE2::ErrorPatternTooLarge) return matcher;
  return std::make_shared<const re2::RE2>(regex, path_regex_options(kLargeMemory));
}

// Adds the positions reachable by letting a "**" match zero segments.
template <typename Alternative>
void skip_empty_globstars(const Alternative& alternative, std::vector<bool>& states) {
  for (std::size_t i = 0; i < alternative.size(); ++i) {
    if (states[i] && alternative[i].globstar) states[i + 1] = true;
  }
}

}  // namespace

RuleShape::RuleShape(const std::vector<GlobAlternative>& alternatives, PatternType type)
    : type_(type) {
  const std::string lone_star_regex = char_class_regex(any_segment_byte()) + "*";
  std::map<std::string_view, std::shared_ptr<const re2::RE2>> built;  // by regex
  for (const GlobAlternative& glob : alternatives) {
    Alternative alternative;
    for (const GlobSegment& segment : glob) {
      Segment compiled{.globstar = segment.globstar,
                       .any_name = !segment.globstar && segment.regex == lone_star_regex,
                       .matcher = nullptr,
                       .literal = {}};
      if (segment.literal) {
        compiled.literal = segment.literal_text;  // most segments: no regex to build
      } else if (!segment.globstar) {
        std::shared_ptr<const re2::RE2>& matcher = built[segment.regex];
        if (!matcher) matcher = segment_matcher(segment.regex);
        compiled.matcher = matcher;
      }
      alternative.push_back(std::move(compiled));
    }
    alternatives_.push_back(std::move(alternative));
  }
}

bool RuleShape::Segment::matches(std::string_view name) const {
  return matcher ? re2::RE2::FullMatch(name, *matcher) : name == literal;
}

RuleShape::RuleShape(std::string path) : type_(PatternType::kFile), file_path_(std::move(path)) {}

RuleShape::RuleShape(RuleShape&&) noexcept = default;
RuleShape& RuleShape::operator=(RuleShape&&) noexcept = default;
RuleShape::~RuleShape() = default;

SubtreeReach RuleShape::reach(const std::vector<std::string_view>& dir_segments,
                              std::string_view dir_path) const {
  if (type_ == PatternType::kFile) {
    const bool below = dir_path == "/" ? file_path_ != "/"
                                       : file_path_.size() > dir_path.size() &&
                                             file_path_.starts_with(dir_path) &&
                                             file_path_[dir_path.size()] == '/';
    const bool child = below && file_path_.find('/', dir_path == "/" ? 1 : dir_path.size() + 1) ==
                                    std::string::npos;
    return {.may_match_below = below, .matches_all_below = false, .may_match_child = child};
  }
  SubtreeReach total;
  for (const Alternative& alternative : alternatives_) {
    const SubtreeReach one = glob_reach(alternative, dir_segments);
    total.may_match_below = total.may_match_below || one.may_match_below;
    total.matches_all_below = total.matches_all_below || one.matches_all_below;
    total.may_match_child = total.may_match_child || one.may_match_child;
  }
  return total;
}

// Runs the pattern as an NFA over the directory's segments: states[i] means "the
// segments so far can be matched by the first i pattern segments".
SubtreeReach RuleShape::glob_reach(const Alternative& alternative,
                                   const std::vector<std::string_view>& dir_segments) const {
  const std::size_t end = alternative.size();
  std::vector<bool> states(end + 1, false);
  states[0] = true;
  skip_empty_globstars(alternative, states);
  // A directory rule matching the directory or one of its ancestors covers its subtree.
  bool matched_ancestor_or_self = states[end];
  for (std::string_view name : dir_segments) {
    std::vector<bool> next(end + 1, false);
    bool alive = false;
    for (std::size_t i = 0; i < end; ++i) {
      if (!states[i]) continue;
      if (alternative[i].globstar) {
        next[i] = true;  // "**" absorbs this segment and may absorb more
        alive = true;
      } else if (alternative[i].matches(name)) {
        next[i + 1] = true;
        alive = true;
      }
    }
    skip_empty_globstars(alternative, next);
    states = std::move(next);
    matched_ancestor_or_self = matched_ancestor_or_self || states[end];
    if (!alive) break;  // nothing deeper can match; an ancestor match still counts
  }

  SubtreeReach reach;
  // Remaining pattern segments can always consume at least one more path segment
  // (assuming every segment glob matches some name: conservative).
  for (std::size_t i = 0; i < end; ++i) reach.may_match_below = reach.may_match_below || states[i];
  // Remaining pattern made only of "**" matches any continuation; for a glob rule so
  // does one made of "**" and one lone "*" (every path below has a segment for the "*"
  // to take, and the "**" absorb the rest). A lone "*" alone takes only direct children.
  // A directory rule's "*" must name a directory: files directly in this one match no
  // such tail, so there only an all-"**" tail covers everything below.
  const std::size_t stars_allowed = type_ == PatternType::kDirectory ? 0 : 1;
  std::size_t stars = 0, globstars = 0;
  for (std::size_t i = end; i-- > 0 && (alternative[i].globstar || alternative[i].any_name);) {
    ++(alternative[i].globstar ? globstars : stars);
    if (stars == 0 || (stars <= stars_allowed && globstars > 0))
      reach.matches_all_below = reach.matches_all_below || states[i];
  }
  // One more segment, of any name: the pattern ends there when a state can consume
  // exactly that segment (a "**" staying put, or a segment glob advancing).
  std::vector<bool> child(end + 1, false);
  for (std::size_t i = 0; i < end; ++i) {
    if (!states[i]) continue;
    if (alternative[i].globstar) {
      child[i] = true;
    } else {
      child[i + 1] = true;
    }
  }
  skip_empty_globstars(alternative, child);
  reach.may_match_child = child[end];
  if (type_ == PatternType::kDirectory && matched_ancestor_or_self) {
    reach.may_match_below = true;
    reach.matches_all_below = true;
    reach.may_match_child = true;
  }
  return reach;
}

std::vector<std::string_view> path_segments(std::string_view normalized_path) {
  std::vector<std::string_view> segments;
  std::size_t start = 1;  // skip the leading '/'
  while (start < normalized_path.size()) {
    std::size_t slash = normalized_path.find('/', start);
    if (slash == std::string_view::npos) slash = normalized_path.size();
    segments.push_back(normalized_path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

}  // namespace agentfense::policy
