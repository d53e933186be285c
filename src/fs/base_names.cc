#include "fs/base_names.h"

#include <sys/stat.h>

#include <mutex>

namespace agentfense::fs {
namespace {

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

BaseNames::Verdict BaseNames::admits(int dir, const DirId& id, std::string_view name,
                                     std::uint64_t epoch) {
  if (std::optional<bool> answer = cached(dir, id, name, epoch)) return {*answer, true};
  return learn(dir, id, name, epoch);
}

// The remembered answer, if still good: a folding directory's listing holds only while
// the directory has not changed (an entry added or removed on the host changes it).
std::optional<bool> BaseNames::cached(int dir, const DirId& id, std::string_view name,
                                      std::uint64_t epoch) {
  std::shared_ptr<const layer::StoredNames> names;
  timespec mtime{}, ctime{};
  {
    const std::shared_lock lock(mu_);
    if (epoch != epoch_) return std::nullopt;
    const auto found = known_.find(id);
    if (found == known_.end()) return std::nullopt;
    names = found->second.names;
    mtime = found->second.mtime;
    ctime = found->second.ctime;
  }
  struct stat st;
  if (::fstat(dir, &st) < 0 || !same_time(st.st_mtim, mtime) || !same_time(st.st_ctim, ctime))
    return std::nullopt;
  return names->admits(name);
}

layer::Folding BaseNames::folding_of(int dir, dev_t dev) {
  {
    const std::shared_lock lock(mu_);
    if (const auto found = devices_.find(dev); found != devices_.end()) return found->second;
  }
  const layer::Folding folding = layer::folding_of(dir);
  const std::unique_lock lock(mu_);
  devices_[dev] = folding;
  return folding;
}

BaseNames::Verdict BaseNames::learn(int dir, const DirId& id, std::string_view name,
                                    std::uint64_t epoch) {
  struct stat st {};
  if (::fstat(dir, &st) < 0) return {layer::StoredNames(dir).admits(name), true};
  // Stat'ed before listing: a change meanwhile lists it again.
  bool folds = true;
  switch (folding_of(dir, st.st_dev)) {
    case layer::Folding::kNever:
      folds = false;
      break;
    case layer::Folding::kIfFlagged:
      folds = layer::casefold_flagged(dir);
      break;
    case layer::Folding::kAlways:
      break;
  }
  if (!folds) return {true, false};
  auto names = std::make_shared<const layer::StoredNames>(dir, true);
  const bool admitted = names->admits(name);
  if (id.present) remember(id, Known{std::move(names), st.st_mtim, st.st_ctim}, epoch);
  return {admitted, true};
}

bool BaseNames::folds_listed(int dir, const DirId& id, int readable) {
  switch (folding_of(dir, id.dev)) {
    case layer::Folding::kNever:
      return false;
    case layer::Folding::kIfFlagged:
      return layer::readable_dir_flagged(readable);
    case layer::Folding::kAlways:
      break;
  }
  return true;
}

void BaseNames::remember(const DirId& id, Known known, std::uint64_t epoch) {
  const std::unique_lock lock(mu_);
  if (epoch < epoch_) return;  // learned before a commit another request saw
  if (epoch > epoch_ || known_.size() >= kMaxKnown) {
    known_.clear();
    epoch_ = epoch;
  }
  known_[id] = std::move(known);
}

}  // namespace agentfense::fs
