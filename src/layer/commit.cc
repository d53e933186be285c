// commit: apply a sandbox's changes to its base, file by file, under the rules of
// DESIGN.md "Layers": write permission, conflict detection, no symlink following.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "common/errors.h"
#include "layer/changes.h"
#include "layer/commit_lock.h"
#include "layer/commit_renames.h"
#include "layer/entry_io.h"
#include "layer/file_install.h"
#include "layer/git_layout.h"
#include "layer/link_target.h"
#include "layer/listed_paths.h"
#include "layer/safe_walk.h"
#include "layer/stored_names.h"

namespace agentfense::layer {
namespace {

// A change that must not be applied; `conflict` distinguishes "the base moved on" from
// "not allowed / not possible".
struct Refusal {
  bool conflict;
  std::string reason;
  bool other_spelling = false;  // the base holds the name under another spelling
};

// Regular files waiting in one batch: at most this many (each holds two directory fds).
constexpr std::size_t kBatchFiles = 256;

// The base directories the sandbox recorded a version of (it deleted them, and made them
// again), as they were before this commit first added or removed an entry in them:
// whether the base gained entries there since the sandbox's deletion is a question about
// other writers, not this commit (new_since_deleted). For a whole commit, all its passes;
// only such directories, which the journal holds anyway.
using DirsBefore = std::map<std::string, BaseStamp>;

// Whether a whiteout below directory `dir` hides a base entry the sandbox recorded no
// version of, while `dir` has its deletion stamp: expand_marker left that whiteout for an
// entry the base gained after the sandbox deleted `dir`, which only that stamp tells from
// the sandbox's own deletions. (Few directories have such a stamp: a cheap test first.)
bool hides_unseen_below(const Journal& j, const std::string& dir) {
  if (!j.seen_at(dir)) return false;
  for (const std::string& hidden : j.whiteouts_under(dir)) {
    if (hidden != dir && !j.seen_at(hidden)) return true;
  }
  return false;
}

class Committer {
 public:
  Committer(int base_fd, Journal& j, const Scope& scope, CommitResult& result, CommitLock& lock,
            CommitRenames& renames, DirsBefore& dirs_before)
      : base_fd_(base_fd),
        lock_(lock),
        renames_(renames),
        dirs_before_(dirs_before),
        journal_(j),
        scope_(scope),
        result_(result),
        base_dirs_(base_fd),
        upper_dirs_(j.upper_fd()) {}

  // Applies one change, or stages it (a new regular file) for publish_staged(); records
  // refusals and applied entries in the result.
  void apply(const Change& change) {
    // A deletion whose content went elsewhere waits for where it went (apply_moved_away).
    if (change.kind == ChangeKind::kDeleted && !applying_moved_away_ &&
        renames_.moved_from(change.path)) {
      moved_away_.push_back(change);
      return;
    }
    // Anything but a new regular file goes in only after the staged files before it (a
    // directory before the files in it, a deletion before what replaces it).
    if (change.type != 'f' || change.kind == ChangeKind::kDeleted ||
        staged_.size() >= kBatchFiles) {
      publish_staged();
    }
    std::string note;
    bool staged = false;
    if (std::optional<Refusal> refusal = apply_or_stage(change, note, &staged)) {
      // A case-only rename (`mv readme.md README.md`) lists the new name first: it waits
      // for the deletion of the old one, later in the pass (retry_other_spellings()).
      if (refusal->other_spelling && !retrying_) {
        other_spellings_.push_back(change);
      } else {
        refuse(change.path, *refusal);
      }
    } else if (!staged) {
      applied(change.path, note);
    }
  }

  // Applies the deletions of names whose content the sandbox renamed away, now that the
  // names it went to are applied or refused; call after the rest of the pass. Deleting
  // one whose content was refused where it went would keep that content nowhere in the
  // codebase: it is refused too, and both stay in the layer for a later commit. (Before
  // retry_other_spellings(): a case-only rename needs the old spelling gone.)
  void apply_moved_away() {
    publish_staged();
    applying_moved_away_ = true;
    for (const Change& change : std::exchange(moved_away_, {})) {
      if (const auto refused = renames_.refused_destination(change.path)) {
        refuse(change.path, Refusal{refused->second, "its content moved to " + refused->first +
                                                         ", which was not applied"});
      } else {
        apply(change);
      }
    }
    publish_staged();
  }

  // Applies again, once, the changes refused for another spelling of their name in the
  // base, now that the rest of the pass is applied; call after publish_staged().
  void retry_other_spellings() {
    retrying_ = true;
    for (const Change& change : std::exchange(other_spellings_, {})) apply(change);
    publish_staged();
  }

  // Makes the staged files durable with one flush, renames them into place, makes their
  // directories durable, then removes them from upper (as install_entry does per file).
  void publish_staged() {
    if (staged_.empty()) return;
    std::vector<Staged> batch = std::move(staged_);
    staged_.clear();
    try {
      sync_staged(base_fd_);
    } catch (const SystemError& e) {
      for (const Staged& entry : batch) refuse(entry.path, Refusal{false, e.what()});
      return;  // the temporary files go with `batch`
    }
    std::set<std::pair<dev_t, ino_t>> synced;
    std::vector<bool> published(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      try {
        batch[i].file.publish();
        published[i] = true;
      } catch (const SystemError& e) {
        refuse(batch[i].path, Refusal{false, e.what()});
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      struct stat dir;
      if (!published[i] || ::fstat(batch[i].file.base_parent(), &dir) < 0 ||
          !synced.insert({dir.st_dev, dir.st_ino}).second) {
        continue;
      }
      try {
        sync_dir(batch[i].file.base_parent());
      } catch (const SystemError&) {
        // The entries are in place either way; nothing to take back.
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!published[i]) continue;
      try {
        remove_committed_upper(batch[i].path, batch[i].upper_parent.get(), batch[i].name);
        applied(batch[i].path, note_for(batch[i].file.installed()));
      } catch (const SystemError& e) {
        refuse(batch[i].path, Refusal{false, e.what()});
      }
    }
  }

 private:
  struct Staged {
    std::string path;
    std::string name;
    UniqueFd upper_parent;
    StagedFile file;
  };

  void refuse(const std::string& path, const Refusal& refusal) {
    renames_.refused(path, refusal.conflict);
    (refusal.conflict ? result_.conflicts : result_.denied).push_back(path);
    result_.reasons[path] = refusal.reason;
  }
  void applied(const std::string& path, std::string note) {
    result_.applied.push_back(path);
    if (!note.empty()) result_.notes[path] = std::move(note);
  }
  static std::string note_for(const Installed& installed) {
    return installed.mode != installed.requested_mode ? mode_note(installed) : std::string();
  }
  // The committed non-directory leaves upper and the journal.
  void remove_committed_upper(const std::string& path, int upper_parent, const std::string& name) {
    if (::unlinkat(upper_parent, name.c_str(), 0) < 0 && errno != ENOENT) {
      check_syscall(-1, "remove committed upper entry " + path);
    }
    must_record(journal_.remove_marker(path), "commit of " + path);
    must_record(journal_.forget_copy_up(path), "commit of " + path);
  }

  // Returns nullopt when applied or (`*staged`) staged; `note` says how the applied entry
  // was adjusted.
  std::optional<Refusal> apply_or_stage(const Change& change, std::string& note, bool* staged) {
    if (!scope_.writable(change.path, change.type == 'd')) {
      return Refusal{false, "no write permission"};
    }
    // Named pipes are runtime plumbing, not content; the host gets none.
    if (change.type == 'p' && change.kind != ChangeKind::kDeleted) {
      return Refusal{false, "FIFOs are not committed"};
    }
    if (auto refusal = check_hidden_dir_name(change)) return refusal;
    const PathParts parts = split_path(change.path);
    try {
      if (auto refusal = check_spelling(parts.parent)) return refusal;
      if (change.kind == ChangeKind::kDeleted) return apply_delete(change.path, parts);
      bool parent_occupied = false;
      UniqueFd base_parent = ensure_base_parent(parts.parent, &parent_occupied);
      if (!base_parent) {
        if (parent_occupied)
          return Refusal{true, "a parent of it is not a directory in the codebase"};
        return Refusal{false, "no write permission on a missing parent"};
      }
      if (!stored_exactly(parts.parent, base_parent.get(), parts.name)) return spelled_otherwise();
      if (auto conflict = check_conflict(change, base_parent.get(), parts.name)) return conflict;
      UniqueFd upper_parent = upper_dirs_.open(parts.parent);
      if (change.type == 'l') {
        if (auto reason = link_target_refusal(base_fd_, scope_, parts.parent,
                                              read_link_at(upper_parent.get(), parts.name)))
          return Refusal{false, *reason};
      }
      if (change.type == 'f' || change.type == 'l') {
        if (auto reason =
                git_head_refusal(upper_parent.get(), parts.name, change.type, parts.parent))
          return Refusal{false, *reason};
      }
      // A directory over a base directory merges; anything else over one replaces it.
      if (change.type != 'd') {
        if (auto refusal =
                check_base_tree(base_parent.get(), parts.name, change.path, TreeUse::kReplace)) {
          return refusal;
        }
      }
      before_writing_in(parts.parent, base_parent.get());
      // A kill from here on leaves a temporary entry there: the next commit removes it.
      lock_.note_temp_dir(parts.parent);
      const std::optional<struct stat> replaced = stat_at(base_parent.get(), parts.name);
      renames_.before_change(change.path, replaced);
      if (change.type == 'f') {
        if (std::optional<StagedFile> file =
                stage_file(upper_parent.get(), base_parent.get(), parts.name)) {
          staged_.push_back({change.path, parts.name, std::move(upper_parent), std::move(*file)});
          *staged = true;
          return std::nullopt;
        }
      }
      const Installed installed = install_entry(upper_parent.get(), base_parent.get(), parts.name);
      note = note_for(installed);
      if (change.type != 'd' && replaced && S_ISDIR(replaced->st_mode))
        replaced_dirs_.insert(change.path);
      if (change.type != 'd') {
        remove_committed_upper(change.path, upper_parent.get(), parts.name);
      } else if (!base_hidden(change.path) && !hides_unseen_below(journal_, change.path)) {
        // A recreated directory's deletion stamp tells the entries it deleted from those
        // the base gained since (new_since_deleted): it goes with its marker
        // (expand_marker), or, once that became whiteouts, with the last one hiding an
        // entry the sandbox never saw. Forgotten here before, a partial commit that wrote
        // into the directory left the host's new entry a plain whiteout: the next commit
        // deleted it as the sandbox's own deletion.
        must_record(journal_.forget_copy_up(change.path), "commit of " + change.path);
      }
      return std::nullopt;
    } catch (const SystemError& e) {
      return Refusal{false, e.what()};
    }
  }

  // A file or symlink at a name a rule hides as a directory (`.git` under
  // `libs/*/.git/=none`) would stand in for the hidden directory: a `.git` file naming
  // another gitdir makes git on the host use what the agent wrote. The filesystem refuses
  // such a name (fs/new_name.h), also for entries moved with their directory; one in the
  // layer got there some other way. A base non-directory of that name edited in place
  // was there already and stands in for nothing new.
  std::optional<Refusal> check_hidden_dir_name(const Change& change) const {
    if (change.type == 'd' || change.kind == ChangeKind::kDeleted ||
        !scope_.hidden(change.path, true)) {
      return std::nullopt;
    }
    if (change.kind == ChangeKind::kModified) {
      const std::optional<struct stat> base_now = stat_beneath(base_fd_, change.path);
      if (base_now && type_char(base_now->st_mode) == change.type) return std::nullopt;
    }
    return Refusal{false, "the rules hide this name as a directory; a " +
                              std::string(change.type == 'l' ? "symlink" : "file") +
                              " cannot take its place"};
  }

  enum class TreeUse { kDelete, kReplace };

  bool went_with_a_replaced_dir(std::string path) const {
    while (path != "/") {
      path = split_path(path).parent;
      if (replaced_dirs_.contains(path)) return true;
    }
    return false;
  }

  std::optional<Refusal> apply_delete(const std::string& path, const PathParts& parts) {
    UniqueFd base_parent = base_dirs_.try_open(parts.parent);
    // A symlink where a directory should be is refused, never followed.
    if (!base_parent) {
      if (went_with_a_replaced_dir(path)) {
        // Removed with its directory, which this commit replaced: done, not refused (the
        // report said "denied" for files that were gone).
      } else if (stat_beneath(base_fd_, parts.parent)) {
        return Refusal{false, "base parent is not a directory"};
      }
    } else if (stored_exactly(parts.parent, base_parent.get(), parts.name)) {
      // (An entry the name finds under another spelling is not the one the sandbox saw
      // deleted: it stays, like one that is gone.)
      const std::optional<struct stat> st = stat_at(base_parent.get(), parts.name);
      if (st && changed_since_seen(path, *st)) {
        return Refusal{true, "base changed since the sandbox read it"};
      }
      if (st && new_since_deleted(path)) return gained_since_deleted();
      if (auto refusal = check_base_tree(base_parent.get(), parts.name, path, TreeUse::kDelete)) {
        return refusal;
      }
      before_writing_in(parts.parent, base_parent.get());
      if (!remove_visible_tree_at(base_parent.get(), parts.name, path)) {
        // Something appeared that the sandbox cannot see (list_changes reports only
        // deletions that remove everything): it stays, and so does the marker.
        return std::nullopt;
      }
    }
    must_record(journal_.remove_marker(path), "deletion of " + path);
    must_record(journal_.forget_copy_up(path), "deletion of " + path);
    return std::nullopt;
  }

  // On a file system that folds names (layer/stored_names.h), a name the sandbox wrote can
  // find a base entry stored under another spelling: `output/.ENV` finds the hidden
  // `output/.env`, `SECRETS/` the hidden `secrets/`. Writing there would replace, or write
  // into, what the sandbox never saw; such a change is a conflict instead.
  static Refusal spelled_otherwise() {
    return Refusal{true,
                   "the codebase holds an entry under another spelling of this name (its file "
                   "system ignores letter case)",
                   true};
  }

  // Whether `name` in base directory `dir` (at `dir_path`) is absent or stored exactly so.
  // A directory's names are listed once per commit; a name missing from that list (this
  // commit may have made it since) lists it again before refusing.
  bool stored_exactly(const std::string& dir_path, int dir, const std::string& name) {
    if (!stat_at(dir, name)) return true;
    auto known = stored_.find(dir_path);
    if (known != stored_.end() && known->second.admits(name)) return true;
    known = stored_.insert_or_assign(dir_path, StoredNames(dir)).first;
    return known->second.admits(name);
  }

  // Refusal when a directory on the way to `dir_path` exists in the base only under
  // another spelling. Each directory is checked once per commit.
  std::optional<Refusal> check_spelling(const std::string& dir_path) {
    if (dir_path == "/" || spelled_right_.contains(dir_path)) return std::nullopt;
    const PathParts parts = split_path(dir_path);
    if (auto refusal = check_spelling(parts.parent)) return refusal;
    const UniqueFd parent = try_open_dir_beneath(base_fd_, parts.parent);
    // A missing parent is made by this commit, spelled as the sandbox spelled it.
    if (parent && !stored_exactly(parts.parent, parent.get(), parts.name))
      return spelled_otherwise();
    spelled_right_.insert(dir_path);
    return std::nullopt;
  }

  // Base directory at `path`, creating missing directories (like `mkdir -p`, with the
  // upper directory's mode) where the sandbox may write; invalid fd if it may not, or
  // (`*occupied`) when a non-directory stands where one is needed (one the sandbox's
  // rules hid from it, or one the codebase grew since).
  UniqueFd ensure_base_parent(const std::string& path, bool* occupied) {
    if (UniqueFd there = base_dirs_.try_open(path)) return there;
    UniqueFd current = open_dir_beneath(base_fd_, "/");
    std::string walked = "/";
    for (const std::string& segment : path_segments(path)) {
      const std::string parent = std::exchange(walked, child_path(walked, segment));
      int next =
          ::openat(current.get(), segment.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOTDIR) {
        *occupied = true;
        return UniqueFd();
      }
      if (next < 0 && errno == ENOENT) {
        if (!scope_.writable(walked, true)) return UniqueFd();
        const std::optional<struct stat> upper_st = stat_beneath(journal_.upper_fd(), walked);
        before_writing_in(parent, current.get());
        check_syscall(::mkdirat(current.get(), segment.c_str(), 0700), "mkdir " + walked);
        set_dir_mode(current.get(), segment,
                     committed_mode(upper_st ? upper_st->st_mode : 0755, std::nullopt));
        inherit_owner(current.get(), segment, std::nullopt);
        next =
            ::openat(current.get(), segment.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      current.reset(static_cast<int>(check_syscall(next, "open base directory " + walked)));
    }
    return current;
  }

  // True when the merged view did not show the base entry at `path` (so the sandbox
  // deliberately replaced whatever was there). A directory the sandbox made where it
  // deleted a base entry of any type is marked opaque (fs/ops_create.cc, ops_link.cc).
  bool base_hidden(const std::string& path) const {
    if (journal_.is_whiteout(path) || journal_.is_opaque(path)) return true;
    for (std::string parent = split_path(path).parent;; parent = split_path(parent).parent) {
      if (journal_.is_whiteout(parent) || journal_.is_opaque(parent)) return true;
      if (parent == "/") return false;
    }
  }

  std::optional<Refusal> check_conflict(const Change& change, int base_parent,
                                        const std::string& name) const {
    const std::optional<struct stat> base_now = stat_at(base_parent, name);
    if (change.type == 'd') {
      // Directories merge, there is no content to lose; but an upper directory over a
      // visible base non-directory means the base was swapped (e.g. for a symlink) after
      // the sandbox saw a directory there.
      if (!base_now || S_ISDIR(base_now->st_mode)) return std::nullopt;
      // Made over a non-directory the rules hide (a directory-only rule), or the base grew
      // one since: either way it is not the sandbox's to replace.
      if (scope_.hidden(change.path, false))
        return Refusal{true, "the codebase keeps an entry at this path that the rules hide"};
      if (!base_hidden(change.path))
        return Refusal{true, "base directory was replaced since the sandbox read it"};
      // The sandbox deleted the base file or symlink there and made a directory: as for
      // any deletion, not one another sandbox committed there since.
      if (changed_since_seen(change.path, *base_now))
        return Refusal{true, "base changed since the sandbox read it"};
      return std::nullopt;
    }
    const std::optional<CopyUpRecord> record = journal_.copy_up_record(change.path);
    if (record && record->origin == change.path) {
      if (!base_now || !(stamp_of(*base_now) == record->stamp)) {
        return Refusal{true, "base changed since the sandbox read it"};
      }
    } else if (record) {
      // Moved here by a rename: the content derives from the base file at the origin, as
      // it was before this commit replaced or removed it. One gone from the base is fine
      // (deleted there while the sandbox moved it).
      const std::optional<BaseStamp> origin = renames_.stamp_before(base_fd_, record->origin);
      if (origin && !(*origin == record->stamp)) {
        return Refusal{true, "base " + record->origin + " changed since the sandbox read it"};
      }
      // And it replaces what the base held here when it was renamed: overwriting anything
      // else loses another sandbox's or the host's newer work.
      if (record->replaced && record->replaced->version &&
          (!base_now || !(stamp_of(*base_now) == *record->replaced->version))) {
        return Refusal{true, "base changed since the sandbox read it"};
      }
      if (record->replaced && !record->replaced->version && base_now && !base_hidden(change.path))
        return Refusal{true, "renamed in the sandbox but now also exists in base"};
    } else if (base_now && !journal_.was_replaced(change.path)) {
      if (!base_hidden(change.path))
        return Refusal{true, "created in the sandbox but now also exists in base"};
      if (new_since_deleted(change.path)) return gained_since_deleted();
    }
    return std::nullopt;
  }

  // Whether the base entry at `path`, hidden by a directory the sandbox deleted and made
  // again, came after that deletion: the sandbox recorded no version of it (deleting a
  // base entry records one), and the directory holding it changed since the sandbox
  // deleted it (a directory's stamp covers the entries added to it), or is itself such
  // a newcomer. The sandbox never saw it: the commit must not delete or replace it.
  // Journals from before deletions were stamped have no such directory stamp: as before.
  // Those from before `K` dropped the stamps under a directory renamed onto an emptied
  // one: their entries count as new only when the directory changed since.
  bool new_since_deleted(const std::string& path) const {
    for (std::string at = path; at != "/" && !journal_.seen_at(at);) {
      const std::string parent = split_path(at).parent;
      if (const std::optional<SeenBase> dir = journal_.seen_at(parent)) {
        if (!dir->version) return true;  // there was no directory then
        if (const auto before = dirs_before_.find(parent); before != dirs_before_.end())
          return !(before->second == *dir->version);
        const std::optional<struct stat> now = stat_beneath(base_fd_, parent);
        return !now || !(stamp_of(*now) == *dir->version);
      }
      // A marked entry is where a deletion starts: the sandbox saw what holds it.
      if (journal_.is_whiteout(at) || journal_.is_opaque(at)) return false;
      at = parent;
    }
    return false;
  }
  // Call before this commit adds or removes an entry in base directory `dir` (open as `fd`).
  void before_writing_in(const std::string& dir, int fd) {
    struct stat st;
    if (dirs_before_.contains(dir) || !journal_.seen_at(dir) || ::fstat(fd, &st) < 0) return;
    dirs_before_.emplace(dir, stamp_of(st));
  }
  static Refusal gained_since_deleted() {
    return Refusal{true,
                   "the codebase gained it after the sandbox deleted the directory holding it"};
  }

  // True when the sandbox recorded the base version at `path` (a copy-up, a removal, the
  // version a rename replaced there) and `st` is no longer it: also when it saw none
  // there. Gone from the base is not "changed": deleted on both sides.
  bool changed_since_seen(const std::string& path, const struct stat& st) const {
    const std::optional<SeenBase> seen = journal_.seen_at(path);
    return seen && !(seen->version && stamp_of(st) == *seen->version);
  }

  // Removing or replacing a base directory touches its whole tree: every path in it the
  // sandbox can see must be writable. A deletion keeps hidden entries; a replacement
  // cannot, so a directory holding any is a conflict, whose reason names nothing in it.
  std::optional<Refusal> check_base_tree(int base_parent, const std::string& name,
                                         const std::string& path, TreeUse use) const {
    const std::optional<struct stat> st = stat_at(base_parent, name);
    if (!st || !S_ISDIR(st->st_mode)) return std::nullopt;
    UniqueFd dir(check_syscall(
        ::openat(base_parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
        "open " + path));
    for (const std::string& child : list_names(dir.get())) {
      const std::string child_full = child_path(path, child);
      const std::optional<struct stat> child_st = stat_at(dir.get(), child);
      const bool is_dir = child_st && S_ISDIR(child_st->st_mode);
      if (scope_.hidden(child_full, is_dir)) {
        if (use == TreeUse::kReplace) {
          return Refusal{true, "the codebase keeps a directory at this path"};
        }
        continue;
      }
      if (!scope_.writable(child_full, is_dir))
        return Refusal{false, "no write permission on " + child_full};
      // Deleting a tree deletes what the sandbox removed from it: an entry changed since
      // (its directory's stamp covers entries added) is another sandbox's newer work.
      if (use == TreeUse::kDelete && child_st && changed_since_seen(child_full, *child_st))
        return Refusal{true, "base " + child_full + " changed since the sandbox read it"};
      if (auto refusal = check_base_tree(dir.get(), child, child_full, use)) return refusal;
    }
    return std::nullopt;
  }

  // A removed base entry's recorded stamp goes with it: a file the sandbox makes there
  // later is new, not a change of a base file that is gone.
  void forget_stamp(const std::string& path) {
    if (journal_.copy_up_record(path))
      must_record(journal_.forget_copy_up(path), "deletion of " + path);
  }

  // Removes base entry `path` (`name` in `parent`) except what the sandbox cannot see.
  // Returns false when something hidden kept it (a directory holding such entries stays).
  bool remove_visible_tree_at(int parent, const std::string& name, const std::string& path) {
    const std::optional<struct stat> st = stat_at(parent, name);
    if (!st) return true;
    const bool is_dir = S_ISDIR(st->st_mode);
    if (scope_.hidden(path, is_dir)) return false;
    renames_.before_change(path, st);
    if (!is_dir) {
      check_syscall(::unlinkat(parent, name.c_str(), 0), "unlink " + path);
      forget_stamp(path);
      return true;
    }
    UniqueFd dir(
        check_syscall(::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                      "open " + path));
    bool emptied = true;
    for (const std::string& child : list_names(dir.get()))
      emptied = remove_visible_tree_at(dir.get(), child, child_path(path, child)) && emptied;
    if (emptied) {
      check_syscall(::unlinkat(parent, name.c_str(), AT_REMOVEDIR), "rmdir " + path);
      forget_stamp(path);
    }
    return emptied;
  }

  static std::string mode_note(const Installed& installed) {
    char text[96];
    std::snprintf(text, sizeof text, "committed with mode %04o instead of %04o",
                  static_cast<unsigned>(installed.mode),
                  static_cast<unsigned>(installed.requested_mode));
    return text;
  }

  const int base_fd_;
  CommitLock& lock_;
  CommitRenames& renames_;
  DirsBefore& dirs_before_;
  Journal& journal_;
  const Scope& scope_;
  CommitResult& result_;
  std::vector<Staged> staged_;
  // Base directories this commit replaced by a non-directory, with everything in them:
  // the deletions listed for their entries come after them and are done already.
  std::set<std::string> replaced_dirs_;
  // Base directories whose names were listed (stored_exactly), and paths of directories
  // found spelled as stored (check_spelling).
  std::map<std::string, StoredNames> stored_;
  std::set<std::string> spelled_right_;
  std::vector<Change> other_spellings_;  // refused for another spelling, to retry once
  std::vector<Change> moved_away_;       // deletions waiting for apply_moved_away()
  bool applying_moved_away_ = false;     // stays set: later deletions (retries) wait for nothing
  bool retrying_ = false;
  // Changes come sorted by path: each opens its parents from the last one's.
  DirCursor base_dirs_;
  DirCursor upper_dirs_;
};

// Replaces the marker on a recreated directory `path` by explicit whiteouts for the base
// entries it still has to hide. Entries this commit just wrote into the base (and removed
// from upper) must become visible instead of looking deleted, which a blanket opaque
// marker cannot express.
//
// The directory's deletion stamp goes too, unless an entry it hides now has no stamp of its
// own: one the base gained after the sandbox deleted the directory (the commit refused
// it), which that stamp alone tells from the entries the sandbox deleted. Kept, a stale
// stamp would make a later deletion of the directory a conflict for good.
void expand_marker(int base_fd, Journal& j, const std::string& path,
                   const std::set<std::string>& applied) {
  UniqueFd base_dir = try_open_dir_beneath(base_fd, path);
  UniqueFd upper_dir = try_open_dir_beneath(j.upper_fd(), path);
  if (!base_dir || !upper_dir) return;
  bool hides_unseen = false;
  const auto hide = [&](const std::string& child) {
    must_record(j.add_whiteout(child), "whiteout " + child);
    if (!j.seen_at(child)) hides_unseen = true;
  };
  for (const std::string& name : list_names(base_dir.get())) {
    const std::string child = child_path(path, name);
    if (j.is_whiteout(child) || j.is_opaque(child)) continue;  // hides on its own
    const std::optional<struct stat> upper = stat_at(upper_dir.get(), name);
    const std::optional<struct stat> base = stat_at(base_dir.get(), name);
    if (!upper) {
      if (!applied.contains(child)) hide(child);
    } else if (S_ISDIR(upper->st_mode) && base && S_ISDIR(base->st_mode)) {
      // It inherited the hiding; one the base gained since keeps it unseen.
      if (!j.seen_at(child)) hides_unseen = true;
      expand_marker(base_fd, j, child, applied);
    } else {
      hide(child);  // replaced, not edited: keep that for conflict detection
    }
  }
  must_record(j.remove_marker(path), "marker of " + path);
  if (!hides_unseen) must_record(j.forget_copy_up(path), "marker of " + path);
}

// The base removed `path`, an entry the sandbox never saw that a directory above it kept
// its deletion stamp for (expand_marker): the directories that hide no such entry any
// more let theirs go. Kept, a later deletion of one was a conflict for good.
void forget_settled_dir_stamps(Journal& j, const std::string& path) {
  for (std::string dir = split_path(path).parent; dir != "/"; dir = split_path(dir).parent) {
    if (j.is_whiteout(dir) || j.is_opaque(dir)) return;  // its marker still hides the base
    if (j.seen_at(dir) && !hides_unseen_below(j, dir))
      must_record(j.forget_copy_up(dir), "marker of " + path);
  }
}

// Whether `paths` holds `dir` or a path under it: those sort from `dir` + "/" up to the
// first path not starting with it (a lookup, not a scan of every applied path per marker).
bool holds_same_or_under(const std::set<std::string>& paths, const std::string& dir) {
  if (paths.contains(dir)) return true;
  const std::string prefix = dir == "/" ? dir : dir + "/";
  const auto next = paths.lower_bound(prefix);
  return next != paths.end() && next->starts_with(prefix);
}

// Brings the markers in line with the new base: drops those that hide nothing and
// expands those over directories this commit wrote into.
void prune_markers(int base_fd, Journal& j, const std::vector<std::string>& applied_paths) {
  const std::set<std::string> applied(applied_paths.begin(), applied_paths.end());
  std::vector<std::string> markers = j.whiteouts();
  const std::vector<std::string> opaques = j.opaques();
  markers.insert(markers.end(), opaques.begin(), opaques.end());
  std::sort(markers.begin(), markers.end());
  for (const std::string& marker : markers) {
    if (!j.is_whiteout(marker) && !j.is_opaque(marker)) continue;  // expanded already
    const std::optional<struct stat> base = stat_beneath(base_fd, marker);
    const std::optional<struct stat> upper = stat_beneath(j.upper_fd(), marker);
    if (!base) {
      const bool unseen = !j.seen_at(marker);
      must_record(j.remove_marker(marker), "marker of " + marker);
      // Deleted on both sides, and nothing made there again: what the sandbox saw of the
      // deleted version goes too. Kept, a file it made there later was a conflict for good
      // (the version it saw is gone), and the layer never became empty again.
      if (!upper) must_record(j.forget_copy_up(marker), "marker of " + marker);
      if (unseen) forget_settled_dir_stamps(j, marker);
      continue;
    }
    const bool wrote_there = holds_same_or_under(applied, marker);
    if (upper && S_ISDIR(upper->st_mode) && S_ISDIR(base->st_mode) && wrote_there) {
      expand_marker(base_fd, j, marker, applied);
    }
  }
}

constexpr mode_t kNotADir = ~mode_t{0};

// The permission bits of directory `name` in `dir`; kNotADir when `dir` is not open (no
// such parent) or `name` is absent or not a directory.
mode_t dir_mode_at(const UniqueFd& dir, const std::string& name) {
  if (!dir) return kNotADir;
  const std::optional<struct stat> st = stat_at(dir.get(), name);
  return st && S_ISDIR(st->st_mode) ? st->st_mode & 07777 : kNotADir;
}

// Upper directories left empty by the commit and identical to base carry no change.
void remove_empty_upper_dirs(int base_fd, Journal& j, std::vector<std::string> paths) {
  std::sort(paths.rbegin(), paths.rend());  // children before parents
  // Directories a walk went past (not one there to remove, or removed): a later walk that
  // reaches one stops, since everything above it was looked at after it was passed, and
  // a parent only becomes removable when its last child goes, by a walk that then goes on
  // to it. Without this, each path of a chain re-walked every ancestor, statting each
  // from the root: cubic in the depth (a 1,000-level chain took 100 s to apply).
  std::set<std::string> passed;
  DirCursor upper_dirs(j.upper_fd());  // each walk goes up from where the last one was
  DirCursor base_dirs(base_fd);
  for (const std::string& path : paths) {
    for (std::string dir = path; dir != "/"; dir = split_path(dir).parent) {
      if (passed.contains(dir)) break;
      const PathParts parts = split_path(dir);
      const UniqueFd upper_parent = upper_dirs.try_open(parts.parent);
      const UniqueFd base_parent = base_dirs.try_open(parts.parent);
      const mode_t upper = dir_mode_at(upper_parent, parts.name);
      const mode_t base = dir_mode_at(base_parent, parts.name);
      if (upper == kNotADir || base == kNotADir) {
        passed.insert(dir);
        continue;
      }
      if (upper != base) break;
      if (j.is_whiteout(dir) || j.is_opaque(dir)) break;
      // ENOTEMPTY simply means the directory still holds uncommitted changes.
      if (::unlinkat(upper_parent.get(), parts.name.c_str(), AT_REMOVEDIR) < 0) break;
      passed.insert(dir);
    }
  }
}

}  // namespace

CommitResult commit(int base_dirfd, Journal& j, const Scope& scope, const ChangeSelection& only,
                    const CommitProgress& progress, std::size_t pass_bytes) {
  // Commits to one codebase are serialized even across processes (layer/commit_lock.h).
  // Acquiring it also removes what a commit killed midway left (commit_lock.h).
  CommitLock lock = CommitLock::acquire(base_dirfd);
  CommitResult result;
  std::size_t done = 0, total = 0;
  // Every change at or before `after` was applied or refused by an earlier pass; what
  // was refused stays in upper, so a pass lists only what sorts after it.
  std::optional<std::string> after;
  CommitRenames renames(j);
  DirsBefore dirs_before;
  for (bool first = true;; first = false) {
    std::size_t more = 0;
    const std::vector<Change> changes = list_changes_after(
        base_dirfd, j, scope, only, after, pass_bytes, /*exact=*/first && progress, &more);
    if (first) total = changes.size() + more;
    CommitResult pass;
    Committer committer(base_dirfd, j, scope, pass, lock, renames, dirs_before);
    for (const Change& change : changes) {
      if (progress) progress(done, std::max(total, done + 1));
      ++done;
      committer.apply(change);
    }
    committer.publish_staged();
    committer.apply_moved_away();
    committer.retry_other_spellings();
    // Reported in path order, as listed, whatever waited for the rest of the pass.
    for (auto* paths : {&pass.applied, &pass.denied, &pass.conflicts})
      std::sort(paths->begin(), paths->end());
    prune_markers(base_dirfd, j, pass.applied);
    remove_empty_upper_dirs(base_dirfd, j, pass.applied);
    append_bounded(result, std::move(pass));
    if (more == 0 || changes.empty()) break;
    after = changes.back().path;
  }
  // Every temporary entry was renamed into place or removed (a commit that throws keeps
  // its record: the next one removes whatever the unwinding could not).
  lock.finished();
  // The first pass's count includes changes a later pass may no longer find (changes.h).
  if (progress) progress(done, done);
  return result;
}

}  // namespace agentfense::layer
