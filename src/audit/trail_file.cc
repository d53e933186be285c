#include "audit/trail_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "audit/chain.h"
#include "common/errors.h"
#include "common/sha256.h"

namespace agentfense::audit {
namespace {

constexpr size_t kTailChunk = 64 * 1024;

class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) < 0) {
      if (errno != EINTR) throw SystemError("lock audit trail", errno);
    }
  }
  ~FileLock() { (void)::flock(fd_, LOCK_UN); }  // closing the fd would release it too
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

std::string read_range(int fd, std::uint64_t offset, size_t length) {
  std::string out(length, '\0');
  size_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError("read audit trail", errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

// Offset just past the last '\n' at or before `end` (0 when there is none).
std::uint64_t after_last_newline(int fd, std::uint64_t end) {
  while (end > 0) {
    const std::uint64_t start = end > kTailChunk ? end - kTailChunk : 0;
    const std::string chunk = read_range(fd, start, static_cast<size_t>(end - start));
    const size_t pos = chunk.rfind('\n');
    if (pos != std::string::npos) return start + pos + 1;
    end = start;
  }
  return 0;
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SystemError("write audit trail", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

TrailFile::TrailFile(const std::string& path, std::string sandbox)
    : path_(path),
      sandbox_(std::move(sandbox)),
      fd_(static_cast<int>(check_syscall(
          ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600),
          "open audit trail " + path))) {
  struct stat st;
  check_syscall(::fstat(fd_.get(), &st), "stat audit trail " + path);
  if (!S_ISREG(st.st_mode)) throw SystemError("audit trail " + path + " is not a file", EINVAL);
}

void TrailFile::catch_up(std::string* notices) {
  struct stat st;
  check_syscall(::fstat(fd_.get(), &st), "stat audit trail");
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == known_size_) return;
  if (size > 0 && read_range(fd_.get(), size - 1, 1) != "\n") {
    const std::uint64_t keep = after_last_newline(fd_.get(), size);
    check_syscall(::ftruncate(fd_.get(), static_cast<off_t>(keep)), "truncate torn audit line");
    *notices = std::to_string(size - keep);
    size = keep;
  }
  last_seq_ = 0;
  last_hash_ = std::string(kGenesis);
  if (size > 0) {
    const std::uint64_t start = after_last_newline(fd_.get(), size - 1);
    std::string line = read_range(fd_.get(), start, static_cast<size_t>(size - 1 - start));
    std::string body, hash;
    if (split_line(line, &body, &hash)) {
      last_hash_ = hash;
      const auto parsed = nlohmann::json::parse(body, nullptr, false);
      if (parsed.is_object() && parsed.contains("seq") && parsed["seq"].is_number_unsigned()) {
        last_seq_ = parsed["seq"].get<std::uint64_t>();
      }
    } else {
      // A damaged last line: chain on from its bytes, so verify reports that line (and
      // only it) rather than everything written after it.
      last_hash_ = sha256_hex(line);
    }
  }
  known_size_ = size;
}

void TrailFile::append(std::span<const Event> events) {
  if (events.empty()) return;
  FileLock lock(fd_.get());
  std::string torn_bytes;
  catch_up(&torn_bytes);
  std::vector<Event> notice;
  if (!torn_bytes.empty()) {
    Event event;
    event.kind = kKindAudit;
    event.op = "torn_tail_removed";
    event.details = {{"bytes", std::stoull(torn_bytes)}};
    notice.push_back(std::move(event));
  }
  std::string text;
  auto add = [&](const Event& event) {
    nlohmann::ordered_json line = {
        {"v", 1}, {"seq", ++last_seq_}, {"ts", format_time(event.time)}, {"sandbox", sandbox_}};
    const nlohmann::ordered_json fields = to_fields(event);
    for (const auto& [key, value] : fields.items()) line[key] = value;
    line["prev"] = last_hash_;
    // Paths are arbitrary bytes: never let a non-UTF-8 name throw.
    const std::string body = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    last_hash_ = link_hash(last_hash_, body);
    text += seal(body, last_hash_);
    text += '\n';
  };
  for (const Event& event : notice) add(event);
  for (const Event& event : events) add(event);
  try {
    write_all(fd_.get(), text);
  } catch (...) {
    known_size_ = UINT64_MAX;  // a partial line may be there: re-read the end next time
    throw;
  }
  known_size_ += text.size();
}

void TrailFile::sync() {
  check_syscall(::fdatasync(fd_.get()), "sync audit trail " + path_);
}

std::uint64_t TrailFile::size() const {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) throw SystemError("stat " + path_, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace agentfense::audit
