// What one commit knows of the renames the sandbox made (journal stamps whose origin is
// another path), so that it keeps a rename's two halves together: the name the content
// came from and the name it went to.
//
// - A renamed file derives from its origin's base version. When the commit has already
//   replaced or removed the origin (`mv one x; mv two one`), the version to check it
//   against is the one before the commit touched it, not what the commit put there.
// - A deletion whose content moved to a name the commit refused would leave that content
//   nowhere in the codebase (and nowhere at all once `run --changes apply` drops the
//   layer): such a deletion is refused too (commit.cc applies them last in each pass).
//
// It holds one entry per rename in the journal, never one per path committed, so a commit
// of any size stays in bounded memory.
#pragma once

#include <sys/stat.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "layer/journal.h"

namespace agentfense::layer {

class CommitRenames {
 public:
  explicit CommitRenames(const Journal& j);

  // Called before the commit writes or removes the base entry at `path` (`st`: what is
  // there); the first call for a path keeps what it was before the commit.
  void before_change(const std::string& path, const std::optional<struct stat>& st);
  // The base entry at `path` (beneath `base_fd`) as it was before this commit.
  std::optional<BaseStamp> stamp_before(int base_fd, const std::string& path) const;

  // Whether content was renamed away from `path` or from beneath it.
  bool moved_from(const std::string& path) const;
  // Records a change the commit refused (`conflict` or denied).
  void refused(const std::string& path, bool conflict);
  // A name refused in this commit that received content moved from `path` or beneath it,
  // and whether it was a conflict.
  std::optional<std::pair<std::string, bool>> refused_destination(const std::string& path) const;

 private:
  struct Origin {
    bool seen = false;                // before_change was called for it
    std::optional<BaseStamp> before;  // what was there then (nullopt: nothing)
    std::vector<std::string> destinations;
  };
  // True when `visit` answers true for an origin at or beneath `path`.
  template <typename Visit>
  bool any_origin_under(const std::string& path, Visit visit) const;

  std::map<std::string, Origin> origins_;
  std::map<std::string, bool> refused_;  // destinations refused, by path: conflict?
  std::set<std::string> destinations_;   // where renamed content went
};

}  // namespace agentfense::layer
