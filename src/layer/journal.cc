#include "layer/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/errors.h"
#include "layer/journal_record.h"
#include "layer/safe_walk.h"

namespace agentfense::layer {
namespace {

constexpr char kUpperName[] = "upper";
constexpr char kJournalName[] = "journal";
constexpr char kCompactName[] = "journal.compact";

// Replay cost is proportional to the file; once dead records dominate, rewrite it.
constexpr size_t kCompactSlack = 1024;

void make_dir_if_missing(int dir_fd, const char* name) {
  if (::mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST) {
    check_syscall(-1, "mkdir " + std::string(name));
  }
}

const std::string& key_of(const std::string& key) {
  return key;
}
template <typename Value>
const std::string& key_of(const std::pair<const std::string, Value>& entry) {
  return entry.first;
}

// Keys equal to `prefix` or below it as a directory ("/a/x" but not "/ab").
template <typename Container>
std::vector<std::string> keys_under(const Container& container, std::string_view prefix) {
  std::vector<std::string> keys;
  // Keys starting with the prefix text are contiguous in sorted order; "/a b" sits among
  // them without being under "/a", hence the precise filter.
  for (auto it = container.lower_bound(prefix); it != container.end(); ++it) {
    const std::string& key = key_of(*it);
    if (!key.starts_with(prefix)) break;
    if (is_same_or_under(key, prefix)) keys.push_back(key);
  }
  return keys;
}

std::string moved_path(std::string_view path, std::string_view from, std::string_view to) {
  return std::string(to) + std::string(path.substr(from.size()));
}

template <typename Container, typename Rekey>
void move_keys(Container& container, std::string_view from, const Rekey& rekey) {
  for (const std::string& key : keys_under(container, from)) {
    auto node = container.extract(key);
    if constexpr (requires { node.key(); }) {
      node.key() = rekey(key);
    } else {
      node.value() = rekey(key);
    }
    container.insert(std::move(node));
  }
}

// What each kind of held entry costs (JournalCharge): the record(s) compact() writes.
JournalCharge marker_charge(const std::string& path) {  // a whiteout or opaque marker
  return {encode_record({RecordOp::kWhiteout, path, {}, {}}).size(), 1};
}
JournalCharge replaced_charge(const std::string& path) {  // logged as whiteout + clear
  return {encode_record({RecordOp::kWhiteout, path, {}, {}}).size() +
              encode_record({RecordOp::kClearMarkers, path, {}, {}}).size(),
          0};
}
// A stamp's records as compact() writes them: the stamp, and what a rename replaced.
std::string stamp_records(const std::string& path, const CopyUpRecord& record) {
  std::string records = encode_record({RecordOp::kStamp, path, record.origin, record.stamp});
  if (record.replaced) {
    records += encode_record({RecordOp::kReplaced, path, {}, record.replaced->version});
  }
  return records;
}
JournalCharge stamp_charge(const std::string& path, const CopyUpRecord& record) {
  return {stamp_records(path, record).size(), 0};
}

template <typename Container, typename ChargeOf>
void add_under(const Container& container, std::string_view prefix, const ChargeOf& charge_of,
               JournalCharge* total) {
  for (auto it = container.lower_bound(prefix); it != container.end(); ++it) {
    const std::string& key = key_of(*it);
    if (!key.starts_with(prefix)) break;
    if (!is_same_or_under(key, prefix)) continue;
    JournalCharge charge;
    if constexpr (requires { it->second; }) {
      charge = charge_of(key, it->second);
    } else {
      charge = charge_of(key);
    }
    total->bytes += charge.bytes;
    total->names += charge.names;
  }
}

}  // namespace

bool operator==(const BaseStamp& a, const BaseStamp& b) {
  return a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns;
}

std::optional<SeenBase> seen_base(const CopyUpRecord& record, std::string_view path) {
  if (record.origin.empty() || record.origin == path) return SeenBase{record.stamp};
  return record.replaced;
}

Journal::Journal(UniqueFd state_fd, UniqueFd upper_fd)
    : state_fd_(std::move(state_fd)), upper_fd_(std::move(upper_fd)) {}

std::unique_ptr<Journal> Journal::open(const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) < 0 && errno != EEXIST) {
    check_syscall(-1, "mkdir " + state_dir);
  }
  UniqueFd state_fd(check_syscall(::open(state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC),
                                  "open " + state_dir));
  make_dir_if_missing(state_fd.get(), kUpperName);
  UniqueFd upper_fd(check_syscall(
      ::openat(state_fd.get(), kUpperName, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
      "open " + state_dir + "/upper"));

  std::unique_ptr<Journal> journal(new Journal(std::move(state_fd), std::move(upper_fd)));
  journal->open_journal_file();
  journal->records_ = journal->replay();
  if (journal->wants_compaction()) journal->compact();
  return journal;
}

void Journal::open_journal_file() {
  journal_fd_.reset(static_cast<int>(
      check_syscall(::openat(state_fd_.get(), kJournalName,
                             O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600),
                    "open journal")));
  struct stat st;
  check_syscall(::fstat(journal_fd_.get(), &st), "stat journal");
  size_ = st.st_size;
  allocated_ = st.st_size;  // what lies beyond the end is unknown: reserve() adds its own
}

size_t Journal::replay() {
  std::string content;
  char buffer[64 * 1024];
  for (off_t offset = 0;;) {
    const ssize_t n =
        check_syscall(::pread(journal_fd_.get(), buffer, sizeof buffer, offset), "read journal");
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  // A crash mid-append leaves a line without '\n': drop it, and cut it off the file so
  // the next append starts on a fresh line.
  const size_t last_newline = content.rfind('\n');
  const size_t complete = last_newline == std::string::npos ? 0 : last_newline + 1;
  if (complete < content.size()) {
    check_syscall(::ftruncate(journal_fd_.get(), static_cast<off_t>(complete)),
                  "truncate torn journal record");
    size_ = static_cast<off_t>(complete);
    allocated_ = size_;
  }
  size_t records = 0;
  std::string_view rest(content.data(), complete);
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::optional<JournalRecord> record = decode_record(rest.substr(0, newline));
    // Fail closed: skipping a whiteout would silently resurrect deleted content.
    if (!record) {
      throw SystemError("journal record " + std::to_string(records + 1) + " is corrupt", EBADMSG);
    }
    apply(*record);
    rest.remove_prefix(newline + 1);
    ++records;
  }
  return records;
}

void Journal::apply(const JournalRecord& record) {
  const std::string& path = record.path;
  switch (record.op) {
    case RecordOp::kWhiteout:
      if (whiteouts_.insert(path).second) add_charge(marker_charge(path));
      break;
    case RecordOp::kOpaque:
      if (opaques_.insert(path).second) add_charge(marker_charge(path));
      break;
    case RecordOp::kClearMarkers:
      if (whiteouts_.erase(path) > 0) {
        remove_charge(marker_charge(path));
        if (replaced_.insert(path).second) add_charge(replaced_charge(path));
      }
      if (opaques_.erase(path) > 0) remove_charge(marker_charge(path));
      break;
    case RecordOp::kStamp: {
      std::string origin = record.second_path == path ? std::string() : record.second_path;
      const auto [it, inserted] =
          stamps_.try_emplace(path, CopyUpRecord{*record.stamp, std::move(origin), {}});
      if (inserted) add_charge(stamp_charge(path, it->second));
      break;
    }
    case RecordOp::kReplaced: {
      auto it = stamps_.find(path);
      if (it == stamps_.end() || it->second.origin.empty() || it->second.origin == path) break;
      remove_charge(stamp_charge(path, it->second));
      if (!it->second.replaced) ++replaced_stamps_;
      it->second.replaced = SeenBase{record.stamp};
      add_charge(stamp_charge(path, it->second));
      break;
    }
    case RecordOp::kForgetStamp:
      if (auto it = stamps_.find(path); it != stamps_.end()) {
        remove_charge(stamp_charge(path, it->second));
        if (it->second.replaced) --replaced_stamps_;
        stamps_.erase(it);
      }
      if (replaced_.erase(path) > 0) remove_charge(replaced_charge(path));
      break;
    case RecordOp::kRename:
      apply_rename(record.path, record.second_path, false, false);
      break;
    case RecordOp::kRenameKeepingSeen:
      apply_rename(record.path, record.second_path, true, false);
      break;
    case RecordOp::kRenameLeavingSeen:
      apply_rename(record.path, record.second_path, true, true);
      break;
  }
}

void Journal::apply_rename(const std::string& from, const std::string& to, bool keep_seen,
                           bool leave_seen) {
  // Paths change length: what the moved and dropped entries cost is counted again.
  remove_charge(charge_of_rename(from, to));
  // What the sandbox saw of the base at `from` and below is about those base paths, not
  // about the entries travelling: a stamp of its own path stays (taken out of the map
  // until the others moved), an entry renamed in leaves what it replaced there.
  std::vector<decltype(stamps_)::node_type> staying;
  std::vector<std::pair<std::string, BaseStamp>> left;
  if (leave_seen) {
    for (const std::string& key : keys_under(stamps_, from)) {
      const CopyUpRecord& record = stamps_.find(key)->second;
      if (record.origin.empty() || record.origin == key) {
        staying.push_back(stamps_.extract(key));
      } else if (record.replaced && record.replaced->version) {
        left.emplace_back(key, *record.replaced->version);
      }
    }
  }
  // A moved stamp whose origin was its own path now names it; what a rename replaced
  // at its old path is no concern of its new one (the fs records that one).
  for (const std::string& key : keys_under(stamps_, from)) {
    CopyUpRecord& moved = stamps_.find(key)->second;
    if (moved.origin.empty()) moved.origin = key;
    if (moved.replaced) --replaced_stamps_;
    moved.replaced.reset();
  }
  for (const std::string& key : keys_under(whiteouts_, to)) whiteouts_.erase(key);
  for (const std::string& key : keys_under(opaques_, to)) opaques_.erase(key);
  // The base versions the sandbox saw under `to` (the entries it deleted there) are taken
  // as their records go. `to` itself is the fs's to record (record_replaced).
  std::vector<std::pair<std::string, SeenBase>> seen;
  for (const std::string& key : keys_under(stamps_, to)) {
    const auto it = stamps_.find(key);
    if (keep_seen && key != to) {
      if (std::optional<SeenBase> at_key = seen_base(it->second, key))
        seen.emplace_back(key, std::move(*at_key));
    }
    if (it->second.replaced) --replaced_stamps_;
    stamps_.erase(it);
  }
  for (const std::string& key : keys_under(replaced_, to)) replaced_.erase(key);
  auto rekey = [&](const std::string& key) { return moved_path(key, from, to); };
  move_keys(whiteouts_, from, rekey);
  move_keys(opaques_, from, rekey);
  move_keys(stamps_, from, rekey);
  if (!leave_seen) move_keys(replaced_, from, rekey);  // a cleared whiteout is the base's
  for (auto& node : staying) stamps_.insert(std::move(node));
  for (auto& [key, version] : left) stamps_.emplace(key, CopyUpRecord{version, {}, {}});
  // What lands on a path the sandbox saw a base version at replaces that version: the
  // commit overwrites or deletes it, so it must not have changed since. An entry moved
  // from another origin keeps it beside its own stamp (as record_replaced), anything else
  // (a new entry, nothing) takes it as its stamp: the deletion stamp it was.
  for (auto& [key, at_key] : seen) {
    const auto it = stamps_.find(key);
    if (it == stamps_.end()) {
      if (at_key.version) stamps_.emplace(key, CopyUpRecord{*at_key.version, {}, {}});
    } else if (!it->second.origin.empty() && it->second.origin != key) {
      ++replaced_stamps_;
      it->second.replaced = std::move(at_key);
    }
  }
  add_charge(charge_of_rename(from, to));
}

JournalCharge Journal::charge_under(std::string_view prefix) const {
  JournalCharge total;
  add_under(whiteouts_, prefix, marker_charge, &total);
  add_under(opaques_, prefix, marker_charge, &total);
  add_under(replaced_, prefix, replaced_charge, &total);
  add_under(stamps_, prefix, stamp_charge, &total);
  return total;
}

JournalCharge Journal::charge_of_rename(std::string_view from, std::string_view to) const {
  // The entries at or under either prefix, each once when one prefix contains the other.
  if (is_same_or_under(from, to)) return charge_under(to);
  if (is_same_or_under(to, from)) return charge_under(from);
  JournalCharge total = charge_under(from);
  const JournalCharge at_to = charge_under(to);
  return {total.bytes + at_to.bytes, total.names + at_to.names};
}

void Journal::add_charge(const JournalCharge& charge) {
  charged_bytes_.fetch_add(charge.bytes, std::memory_order_relaxed);
  charged_names_.fetch_add(charge.names, std::memory_order_relaxed);
}

void Journal::remove_charge(const JournalCharge& charge) {
  charged_bytes_.fetch_sub(charge.bytes, std::memory_order_relaxed);
  charged_names_.fetch_sub(charge.names, std::memory_order_relaxed);
}

std::uint64_t Journal::record_bytes(std::string_view path) {
  constexpr std::uint64_t kStampNumbers = 64;  // a stamp's inode, size and mtime
  return encode_record({RecordOp::kWhiteout, std::string(path), {}, {}}).size() + kStampNumbers;
}

void Journal::compact() {
  // Write the live state to a side file, make it durable, then atomically replace the
  // journal: a crash at any point leaves either the old or the new complete journal.
  std::string records;
  // A cleared whiteout, as originally logged; first, as its clear would also clear a live
  // marker at the same path (deleted again, or made again as a directory).
  for (const std::string& path : replaced_) {
    records += encode_record({RecordOp::kWhiteout, path, {}, {}});
    records += encode_record({RecordOp::kClearMarkers, path, {}, {}});
  }
  for (const std::string& path : whiteouts_) {
    records += encode_record({RecordOp::kWhiteout, path, {}, {}});
  }
  for (const std::string& path : opaques_)
    records += encode_record({RecordOp::kOpaque, path, {}, {}});
  for (const auto& [path, stamp] : stamps_) records += stamp_records(path, stamp);
  // The new file is opened (for appending) before it replaces the journal: once the
  // rename is done nothing can fail, so appends never go to the replaced file.
  UniqueFd out(static_cast<int>(
      check_syscall(::openat(state_fd_.get(), kCompactName,
                             O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600),
                    "create compacted journal")));
  size_t written = 0;
  while (written < records.size()) {
    written += static_cast<size_t>(
        check_syscall(::write(out.get(), records.data() + written, records.size() - written),
                      "write compacted journal"));
  }
  check_syscall(::fsync(out.get()), "fsync compacted journal");
  check_syscall(::renameat(state_fd_.get(), kCompactName, state_fd_.get(), kJournalName),
                "replace journal");
  journal_fd_ = std::move(out);
  size_ = static_cast<off_t>(records.size());
  allocated_ = size_;
  records_ = live_records();
}

size_t Journal::live_records() const {
  return whiteouts_.size() + opaques_.size() + 2 * replaced_.size() + stamps_.size() +
         replaced_stamps_;
}

bool Journal::wants_compaction() const {
  return records_ > 2 * live_records() + kCompactSlack;
}

int Journal::log_and_apply(const JournalRecord& record) {
  // One write(2) per record on an O_APPEND fd: concurrent appends never interleave, and
  // a crash can only tear the last line, which replay() discards. Memory is updated only
  // once the record is in the file, so both always agree.
  const std::string line = encode_record(record);
  const ssize_t n = ::write(journal_fd_.get(), line.data(), line.size());
  if (n == static_cast<ssize_t>(line.size())) {
    size_ += n;
    ++records_;
    apply(record);
    return 0;
  }
  const int error = n < 0 ? errno : ENOSPC;  // a short write: the disk filled up meanwhile
  // Cut a partial line off, or the next record would be appended to it and the journal
  // would no longer replay. If even that fails, replay drops a torn last line anyway.
  if (n > 0 && ::ftruncate(journal_fd_.get(), size_) == 0) allocated_ = size_;  // frees it
  return -error;
}

int Journal::reserve() {
  // Enough for the records of one operation (a rename writes up to five, each with at
  // most two PATH_MAX paths), preallocated a chunk at a time so most calls cost nothing.
  constexpr off_t kHeadroom = 64 * 1024;
  constexpr off_t kChunk = 256 * 1024;
  std::lock_guard lock(mu_);
  // Records that undo each other (a file renamed back and forth, a base file deleted and
  // made again) leave the live state small while the file grows: one mv loop appended
  // 5.5 MB in 5 s, outside the write quota. Rewritten here, between operations, so the
  // room reserved below is the new file's.
  if (wants_compaction()) {
    try {
      compact();
    } catch (const SystemError& error) {
      return -error.code();  // the old journal is intact; the operation is refused
    }
  }
  if (allocated_ - size_ >= kHeadroom) return 0;
  if (::fallocate(journal_fd_.get(), FALLOC_FL_KEEP_SIZE, size_, kChunk) == 0) {
    allocated_ = size_ + kChunk;
    return 0;
  }
  // Filesystems without preallocation: the append itself stays the only check.
  return errno == EOPNOTSUPP ? 0 : -errno;
}

void must_record(int rc, std::string_view what) {
  if (rc < 0) throw SystemError("record " + std::string(what) + " in the journal", -rc);
}

int Journal::add_whiteout(std::string_view path) {
  std::lock_guard lock(mu_);
  return log_and_apply({RecordOp::kWhiteout, std::string(path), {}, {}});
}

int Journal::add_opaque(std::string_view dir_path) {
  std::lock_guard lock(mu_);
  return log_and_apply({RecordOp::kOpaque, std::string(dir_path), {}, {}});
}

int Journal::remove_marker(std::string_view path) {
  std::lock_guard lock(mu_);
  if (!whiteouts_.contains(path) && !opaques_.contains(path)) return 0;
  return log_and_apply({RecordOp::kClearMarkers, std::string(path), {}, {}});
}

bool Journal::empty() const {
  std::lock_guard lock(mu_);
  return whiteouts_.empty() && opaques_.empty() && replaced_.empty() && stamps_.empty();
}

bool Journal::is_whiteout(std::string_view path) const {
  std::lock_guard lock(mu_);
  return whiteouts_.contains(path);
}

bool Journal::is_opaque(std::string_view path) const {
  std::lock_guard lock(mu_);
  return opaques_.contains(path);
}

int Journal::record_copy_up(std::string_view path, const BaseStamp& stamp) {
  std::lock_guard lock(mu_);
  if (stamps_.contains(path)) return 0;  // the first stamp is the one the sandbox read
  return log_and_apply({RecordOp::kStamp, std::string(path), {}, stamp});  // origin: path
}

bool Journal::was_replaced(std::string_view path) const {
  std::lock_guard lock(mu_);
  return replaced_.contains(path);
}

std::optional<BaseStamp> Journal::copy_up_stamp(std::string_view path) const {
  std::lock_guard lock(mu_);
  auto it = stamps_.find(path);
  if (it == stamps_.end()) return std::nullopt;
  return it->second.stamp;
}

std::optional<CopyUpRecord> Journal::copy_up_record(std::string_view path) const {
  std::lock_guard lock(mu_);
  auto it = stamps_.find(path);
  if (it == stamps_.end()) return std::nullopt;
  CopyUpRecord record = it->second;
  if (record.origin.empty()) record.origin = path;
  return record;
}

std::optional<SeenBase> Journal::seen_at(std::string_view path) const {
  std::lock_guard lock(mu_);
  const auto it = stamps_.find(path);
  return it == stamps_.end() ? std::nullopt : seen_base(it->second, path);
}

int Journal::forget_copy_up(std::string_view path) {
  std::lock_guard lock(mu_);
  if (!stamps_.contains(path) && !replaced_.contains(path)) return 0;
  return log_and_apply({RecordOp::kForgetStamp, std::string(path), {}, {}});
}

int Journal::record_replaced(std::string_view path, const SeenBase& replaced) {
  std::lock_guard lock(mu_);
  const auto it = stamps_.find(path);
  if (it == stamps_.end() || it->second.origin.empty() || it->second.origin == path) return 0;
  return log_and_apply({RecordOp::kReplaced, std::string(path), {}, replaced.version});
}

int Journal::rename_prefix(std::string_view from, std::string_view to) {
  std::lock_guard lock(mu_);
  return log_and_apply({RecordOp::kRename, std::string(from), std::string(to), {}});
}

int Journal::rename_prefix_keeping_seen(std::string_view from, std::string_view to) {
  std::lock_guard lock(mu_);
  return log_and_apply({RecordOp::kRenameKeepingSeen, std::string(from), std::string(to), {}});
}

int Journal::rename_dir_leaving_seen(std::string_view from, std::string_view to) {
  std::lock_guard lock(mu_);
  return log_and_apply({RecordOp::kRenameLeavingSeen, std::string(from), std::string(to), {}});
}

std::vector<std::pair<std::string, std::string>> Journal::renames() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& [path, record] : stamps_) {
    if (!record.origin.empty() && record.origin != path) renames.emplace_back(path, record.origin);
  }
  return renames;
}

std::vector<std::string> Journal::whiteouts() const {
  std::lock_guard lock(mu_);
  return {whiteouts_.begin(), whiteouts_.end()};
}

std::vector<std::string> Journal::whiteouts_under(std::string_view dir) const {
  std::lock_guard lock(mu_);
  return keys_under(whiteouts_, dir);
}

std::vector<std::string> Journal::opaques() const {
  std::lock_guard lock(mu_);
  return {opaques_.begin(), opaques_.end()};
}

void Journal::reset() {
  std::lock_guard lock(mu_);
  check_syscall(::ftruncate(journal_fd_.get(), 0), "truncate journal");
  size_ = 0;
  allocated_ = 0;
  records_ = 0;
  charged_bytes_ = 0;
  charged_names_ = 0;
  replaced_stamps_ = 0;
  whiteouts_.clear();
  opaques_.clear();
  replaced_.clear();
  stamps_.clear();
}

}  // namespace agentfense::layer
