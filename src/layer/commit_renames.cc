#include "layer/commit_renames.h"

#include "layer/entry_io.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {

CommitRenames::CommitRenames(const Journal& j) {
  for (auto& [destination, origin] : j.renames()) {
    destinations_.insert(destination);
    origins_[std::move(origin)].destinations.push_back(std::move(destination));
  }
}

void CommitRenames::before_change(const std::string& path, const std::optional<struct stat>& st) {
  const auto origin = origins_.find(path);
  if (origin == origins_.end() || origin->second.seen) return;
  origin->second.seen = true;
  if (st) origin->second.before = stamp_of(*st);
}

std::optional<BaseStamp> CommitRenames::stamp_before(int base_fd, const std::string& path) const {
  const auto origin = origins_.find(path);
  if (origin != origins_.end() && origin->second.seen) return origin->second.before;
  const std::optional<struct stat> st = stat_beneath(base_fd, path);
  return st ? std::optional(stamp_of(*st)) : std::nullopt;
}

template <typename Visit>
bool CommitRenames::any_origin_under(const std::string& path, Visit visit) const {
  // Paths starting with `path`'s text are contiguous; "/a-b" is among them without being
  // under "/a", hence the precise filter (as journal.cc's keys_under).
  for (auto origin = origins_.lower_bound(path);
       origin != origins_.end() && origin->first.starts_with(path); ++origin) {
    if (is_same_or_under(origin->first, path) && visit(origin->second)) return true;
  }
  return false;
}

bool CommitRenames::moved_from(const std::string& path) const {
  return any_origin_under(path, [](const Origin&) { return true; });
}

void CommitRenames::refused(const std::string& path, bool conflict) {
  if (destinations_.contains(path)) refused_.emplace(path, conflict);
}

std::optional<std::pair<std::string, bool>> CommitRenames::refused_destination(
    const std::string& path) const {
  std::optional<std::pair<std::string, bool>> found;
  any_origin_under(path, [&](const Origin& origin) {
    for (const std::string& destination : origin.destinations) {
      if (const auto refusal = refused_.find(destination); refusal != refused_.end()) {
        found.emplace(destination, refusal->second);
        return true;
      }
    }
    return false;
  });
  return found;
}

}  // namespace agentfense::layer
