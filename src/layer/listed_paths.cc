#include "layer/listed_paths.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace agentfense::layer {
namespace {

// How many of `items` (their paths by `path_of`) fit in `budget` bytes of paths; the
// first always does, so a reply never lists nothing while there is something.
template <typename Item, typename PathOf>
std::size_t fitting(const std::vector<Item>& items, std::size_t budget, PathOf path_of) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    bytes += path_of(items[i]).size();
    if (bytes > budget && i > 0) return i;
  }
  return items.size();
}

// Shortens `paths` to what fits, removing the left-out ones' reasons and notes.
std::size_t bound_list(std::vector<std::string>& paths, std::size_t budget,
                       std::map<std::string, std::string>& reasons,
                       std::map<std::string, std::string>& notes) {
  const std::size_t kept =
      fitting(paths, budget, [](const std::string& p) -> const std::string& { return p; });
  for (std::size_t i = kept; i < paths.size(); ++i) {
    reasons.erase(paths[i]);
    notes.erase(paths[i]);
  }
  const std::size_t omitted = paths.size() - kept;
  paths.erase(paths.begin() + static_cast<std::ptrdiff_t>(kept), paths.end());
  return omitted;
}

}  // namespace

std::size_t bound_changes(std::vector<Change>& changes, std::size_t budget) {
  const std::size_t kept =
      fitting(changes, budget, [](const Change& c) -> const std::string& { return c.path; });
  const std::size_t omitted = changes.size() - kept;
  changes.erase(changes.begin() + static_cast<std::ptrdiff_t>(kept), changes.end());
  return omitted;
}

void FirstChanges::add(Change change) {
  if (cut_ && change.path >= *cut_) {
    ++omitted_;
    return;
  }
  bytes_ += change.path.size();
  heap_.push_back(std::move(change));
  std::push_heap(heap_.begin(), heap_.end(), ByPath());
  // Evict the largest paths while over the budget (keeping one, as bound_changes does);
  // each evicted path lowers the cut, so what is kept stays a prefix in path order.
  while (bytes_ > budget_ && heap_.size() > 1) {
    std::pop_heap(heap_.begin(), heap_.end(), ByPath());
    Change& largest = heap_.back();
    bytes_ -= largest.path.size();
    if (!cut_ || largest.path < *cut_) cut_ = std::move(largest.path);
    heap_.pop_back();
    ++omitted_;
  }
}

std::vector<Change> FirstChanges::take() {
  std::sort(heap_.begin(), heap_.end(), ByPath());
  bytes_ = 0;
  return std::move(heap_);
}

void append_bounded(CommitResult& into, CommitResult&& pass, std::size_t budget) {
  into.reasons.merge(pass.reasons);
  into.notes.merge(pass.notes);
  const auto append = [&](std::vector<std::string>& to, std::vector<std::string>& from,
                          std::size_t& omitted) {
    if (omitted > 0) {
      for (const std::string& path : from) {
        into.reasons.erase(path);
        into.notes.erase(path);
      }
      omitted += from.size();
      return;
    }
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
    omitted += bound_list(to, budget, into.reasons, into.notes);
  };
  append(into.applied, pass.applied, into.applied_omitted);
  append(into.denied, pass.denied, into.denied_omitted);
  append(into.conflicts, pass.conflicts, into.conflicts_omitted);
  into.applied_omitted += pass.applied_omitted;
  into.denied_omitted += pass.denied_omitted;
  into.conflicts_omitted += pass.conflicts_omitted;
}

void bound_commit_lists(CommitResult& result, std::size_t budget) {
  result.applied_omitted += bound_list(result.applied, budget, result.reasons, result.notes);
  result.denied_omitted += bound_list(result.denied, budget, result.reasons, result.notes);
  result.conflicts_omitted += bound_list(result.conflicts, budget, result.reasons, result.notes);
}

}  // namespace agentfense::layer
