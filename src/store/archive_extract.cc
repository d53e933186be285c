#include "store/archive_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "common/api_error.h"
#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/file_install.h"
#include "layer/safe_walk.h"
#include "store/safe_path.h"

namespace agentfense::store {
namespace {

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;

// Feeds libarchive from the client stream. libarchive is C: an exception must not unwind
// through it, so a failure of `next` is parked here and rethrown once control is back.
struct StreamSource {
  const Next<std::string>* next;
  std::int64_t max_bytes = 0;  // storage.max_upload_bytes, 0 = no limit
  std::string chunk;
  std::exception_ptr error;
  std::int64_t received = 0;  // what the client sent so far (compressed)
};

la_ssize_t read_chunk(struct archive* archive, void* context, const void** buffer) {
  auto* source = static_cast<StreamSource*>(context);
  try {
    source->chunk.clear();
    while (source->chunk.empty()) {
      if (!(*source->next)(source->chunk)) return 0;
    }
    source->received += static_cast<std::int64_t>(source->chunk.size());
    if (source->max_bytes != 0 && source->received > source->max_bytes)
      throw_over_limit("archive upload", "storage.max_upload_bytes", source->max_bytes);
    *buffer = source->chunk.data();
    return static_cast<la_ssize_t>(source->chunk.size());
  } catch (...) {
    source->error = std::current_exception();
    archive_set_error(archive, EIO, "upload stream failed");
    return -1;
  }
}

// Names as UTF-8 bytes when the archive records them so (pax, what current clients write):
// the server runs in the "C" locale, where libarchive cannot convert them to a native
// multibyte form. Older archives without a UTF-8 form give their raw bytes instead.
const char* utf8_or_native(const char* utf8, const char* native) {
  return utf8 ? utf8 : native;
}

class Extractor {
 public:
  Extractor(int staging_fd, struct archive* archive, const ArchiveBudget& budget,
            const StreamSource& source)
      : staging_(staging_fd), archive_(archive), budget_(budget), source_(source) {}

  void extract(struct archive_entry* entry);
  void apply_dir_modes();
  ExtractResult result() const { return result_; }

 private:
  void write_file(int parent, const std::string& name, const CodebasePath& path, mode_t mode,
                  int64_t declared_size);
  void make_link(int parent, const std::string& name, const CodebasePath& path, const char* target);
  // Throws when the archive, at `expanded` bytes in all, is over a limit; the ratio is
  // only judged once that much data has arrived (`arrived`), not on a header's promise.
  void check_expansion(std::int64_t expanded, bool arrived) const;

  int staging_;
  struct archive* archive_;
  const ArchiveBudget& budget_;
  const StreamSource& source_;
  ExtractResult result_;
  std::vector<std::pair<CodebasePath, mode_t>> dir_modes_;
};

void Extractor::check_expansion(std::int64_t expanded, bool arrived) const {
  const UploadLimits& limits = budget_.limits;
  if (limits.max_archive_bytes != 0 && expanded > limits.max_archive_bytes)
    throw_over_limit("archive expanded size", "storage.max_archive_bytes",
                     limits.max_archive_bytes);
  if (budget_.room.bytes >= 0 && expanded > budget_.room.bytes)
    throw_over_limit("codebase size with this archive", budget_.room.key.c_str(),
                     budget_.room.limit);
  const std::int64_t ratio = limits.max_archive_ratio;
  if (arrived && ratio != 0 && expanded > kArchiveRatioFreeBytes &&
      expanded / ratio > source_.received)
    throw_over_limit("archive expansion ratio", "storage.max_archive_ratio", ratio, false);
}

void Extractor::extract(struct archive_entry* entry) {
  const char* raw_name =
      utf8_or_native(archive_entry_pathname_utf8(entry), archive_entry_pathname(entry));
  if (raw_name == nullptr) throw_invalid_path("<unnamed archive entry>", "entry has no name");
  const std::string entry_name = raw_name;
  if (entry_name.starts_with("/")) throw_invalid_path(entry_name, "absolute archive entry");
  const CodebasePath path = parse_codebase_path(entry_name, true);
  refuse_reserved_names(path);
  const mode_t type = archive_entry_filetype(entry);
  const char* hardlink =
      utf8_or_native(archive_entry_hardlink_utf8(entry), archive_entry_hardlink(entry));
  if (path.is_root()) {
    if (type == AE_IFDIR && hardlink == nullptr) return;  // "./": the destination itself
    throw_invalid_path(entry_name, "archive entry names the destination directory");
  }
  const std::int64_t max_entries = budget_.limits.max_archive_entries;
  if (max_entries != 0 && result_.entries >= max_entries)
    throw_over_limit("archive entry count", "storage.max_archive_entries", max_entries, false);
  if (type == AE_IFREG && hardlink == nullptr)
    check_expansion(result_.bytes + std::max<int64_t>(0, archive_entry_size(entry)), false);

  // Parents are resolved with no-symlink openat2: an entry below an earlier symlink fails.
  UniqueFd parent = open_dir_in_codebase(staging_, path.parent(), true);
  const std::string name = path.name();
  const std::optional<struct stat> existing = layer::stat_at(parent.get(), name);
  const bool keep_existing_dir =
      existing && S_ISDIR(existing->st_mode) && type == AE_IFDIR && hardlink == nullptr;
  if (existing && !keep_existing_dir) layer::remove_tree_at(parent.get(), name);

  const mode_t mode = archive_entry_perm(entry) & 0777;
  if (hardlink != nullptr) {
    make_link(parent.get(), name, path, hardlink);
  } else if (type == AE_IFREG) {
    write_file(parent.get(), name, path, mode, archive_entry_size(entry));
  } else if (type == AE_IFDIR) {
    if (!keep_existing_dir) {
      check_syscall(::mkdirat(parent.get(), name.c_str(), 0700), "mkdir " + path.display);
    }
    dir_modes_.emplace_back(path, mode);
  } else if (type == AE_IFLNK) {
    const char* target =
        utf8_or_native(archive_entry_symlink_utf8(entry), archive_entry_symlink(entry));
    if (target == nullptr || *target == '\0') throw_invalid_path(entry_name, "empty symlink");
    check_syscall(::symlinkat(target, parent.get(), name.c_str()), "symlink " + path.display);
  } else {
    throw_invalid_path(entry_name, "unsupported archive entry type (device, fifo or socket)");
  }
  ++result_.entries;
}

void Extractor::write_file(int parent, const std::string& name, const CodebasePath& path,
                           mode_t mode, int64_t declared_size) {
  UniqueFd file(check_syscall(
      ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600),
      "create " + path.display));
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int64_t end = 0;
  for (;;) {
    const int rc = archive_read_data_block(archive_, &block, &size, &offset);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      throw_invalid_path(path.display,
                         std::string("archive data: ") + archive_error_string(archive_));
    }
    // Blocks may skip ahead (sparse entries): pwrite at the block's own offset.
    check_expansion(result_.bytes + std::max<int64_t>(end, offset + static_cast<int64_t>(size)),
                    true);
    const char* bytes = static_cast<const char*>(block);
    size_t done = 0;
    while (done < size) {
      const ssize_t written =
          ::pwrite(file.get(), bytes + done, size - done, static_cast<off_t>(offset + done));
      if (written < 0 && errno == EINTR) continue;
      check_syscall(written, "write " + path.display);
      done += static_cast<size_t>(written);
    }
    end = std::max<int64_t>(end, offset + static_cast<int64_t>(size));
  }
  // A sparse file's trailing hole is not a block: the entry's size says where it ends.
  if (end < declared_size) {
    check_expansion(result_.bytes + declared_size, true);
    check_syscall(::ftruncate(file.get(), declared_size), "truncate " + path.display);
  }
  check_syscall(::fchmod(file.get(), mode), "chmod " + path.display);
  struct stat st {};
  check_syscall(::fstat(file.get(), &st), "stat " + path.display);
  result_.bytes += st.st_size;
}

void Extractor::make_link(int parent, const std::string& name, const CodebasePath& path,
                          const char* target) {
  if (std::string_view(target).starts_with("/")) {
    throw_invalid_path(path.display, "hard link to an absolute path");
  }
  const CodebasePath target_path = parse_codebase_path(target, false);
  UniqueFd target_parent = open_dir_in_codebase(staging_, target_path.parent(), false);
  const std::optional<struct stat> st = layer::stat_at(target_parent.get(), target_path.name());
  if (!st || S_ISDIR(st->st_mode)) {
    throw_invalid_path(path.display, "hard link to " + target_path.display +
                                         ", which is not an earlier file of this archive");
  }
  // flags 0: linkat never follows a symlink at the source name.
  check_syscall(::linkat(target_parent.get(), target_path.name().c_str(), parent, name.c_str(), 0),
                "link " + path.display);
}

void Extractor::apply_dir_modes() {
  // Deferred: a read-only directory mode applied early would block its own children.
  for (auto it = dir_modes_.rbegin(); it != dir_modes_.rend(); ++it) {
    UniqueFd parent = open_dir_in_codebase(staging_, it->first.parent(), false);
    const std::optional<struct stat> st = layer::stat_at(parent.get(), it->first.name());
    if (st && S_ISDIR(st->st_mode)) layer::set_dir_mode(parent.get(), it->first.name(), it->second);
  }
}

}  // namespace

ExtractResult extract_archive(int staging_fd, const Next<std::string>& data,
                              const ArchiveBudget& budget) {
  ArchivePtr archive(archive_read_new(), &archive_read_free);
  if (!archive) throw std::runtime_error("archive_read_new failed");
  archive_read_support_filter_gzip(archive.get());
  archive_read_support_format_tar(archive.get());

  StreamSource source{&data, budget.limits.max_upload_bytes, {}, nullptr};
  Extractor extractor(staging_fd, archive.get(), budget, source);
  const auto fail = [&](const char* what) {
    if (source.error) std::rethrow_exception(source.error);
    const char* message = archive_error_string(archive.get());
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   std::string("invalid archive (") + what +
                       "): " + (message ? message : "not a tar or tar.gz stream"));
  };
  if (archive_read_open(archive.get(), &source, nullptr, read_chunk, nullptr) != ARCHIVE_OK) {
    fail("open");
  }
  for (;;) {
    struct archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(archive.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) fail("header");
    try {
      extractor.extract(entry);
    } catch (const ApiError&) {
      // A data read that failed because the client stream broke is the stream's error.
      if (source.error) std::rethrow_exception(source.error);
      throw;
    }
  }
  extractor.apply_dir_modes();
  return extractor.result();
}

}  // namespace agentfense::store
