#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include "layer/tree_bytes.h"
#include "store_test_util.h"

namespace agentfense::store::testing {
namespace {

struct TarEntry {
  std::string name;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;      // regular files
  std::string link;      // symlink target
  std::string hardlink;  // hard link target
};

la_ssize_t append(struct archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

std::string make_tar(const std::vector<TarEntry>& entries, bool gzip = false) {
  // Written as a client in a UTF-8 locale writes them (pax UTF-8 names); the store itself
  // runs in the "C" locale, restored before the tar is read.
  locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
  EXPECT_NE(utf8, nullptr);
  const locale_t previous = ::uselocale(utf8);
  std::string out;
  struct archive* writer = archive_write_new();
  archive_write_set_format_pax_restricted(writer);
  if (gzip) archive_write_add_filter_gzip(writer);
  EXPECT_EQ(archive_write_open(writer, &out, nullptr, append, nullptr), ARCHIVE_OK);
  for (const TarEntry& spec : entries) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, spec.name.c_str());
    archive_entry_set_filetype(entry, spec.type);
    archive_entry_set_perm(entry, spec.perm);
    archive_entry_set_size(entry, spec.type == AE_IFREG && spec.hardlink.empty()
                                      ? static_cast<la_int64_t>(spec.data.size())
                                      : 0);
    if (!spec.link.empty()) archive_entry_set_symlink(entry, spec.link.c_str());
    if (!spec.hardlink.empty()) archive_entry_set_hardlink(entry, spec.hardlink.c_str());
    EXPECT_EQ(archive_write_header(writer, entry), ARCHIVE_OK) << archive_error_string(writer);
    if (!spec.data.empty()) archive_write_data(writer, spec.data.data(), spec.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(writer);
  archive_write_free(writer);
  ::uselocale(previous);
  ::freelocale(utf8);
  return out;
}

// Splits into small chunks so entries straddle network messages.
std::vector<std::string> split(const std::string& bytes, size_t size = 700) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < bytes.size(); pos += size) out.push_back(bytes.substr(pos, size));
  return out;
}

class ArchiveTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    codebase_ = store_->create("arch", "alice");
    outside_ = root_ / "outside";
    write_file(outside_ / "victim.txt", "untouched");
  }
  v1::UploadArchiveResult upload(const std::string& dest, const std::string& tar) {
    return store_->upload_archive(codebase_.id(), dest, chunks_of(split(tar)));
  }
  void expect_rejected(const std::vector<TarEntry>& entries, const std::string& named) {
    const ApiError error = api_error_of([&] { upload("/", make_tar(entries)); });
    EXPECT_EQ(error.code(), StatusCode::INVALID_ARGUMENT) << named;
    EXPECT_NE(std::string(error.what()).find(named), std::string::npos) << error.what();
  }
  size_t entries_in(const fs::path& dir) {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {}));
  }
  v1::Codebase codebase_;
  fs::path outside_;
};

TEST_F(ArchiveTest, KeepsExecBitsSymlinksEmptyDirsAndNesting) {
  const std::string tar = make_tar({
      {.name = "bin/", .type = AE_IFDIR, .perm = 0755},
      {.name = "bin/run.sh", .perm = 0755, .data = "#!/bin/sh\necho hi\n"},
      {.name = "./src/a/b/c.txt", .data = "deep"},  // parents implied
      {.name = "empty/", .type = AE_IFDIR, .perm = 0750},
      {.name = "link", .type = AE_IFLNK, .perm = 0777, .link = "src/a/b/c.txt"},
      {.name = "abs", .type = AE_IFLNK, .perm = 0777, .link = "/etc/passwd"},
      {.name = "hard", .hardlink = "bin/run.sh"},
  });
  const v1::UploadArchiveResult result = upload("/", tar);
  EXPECT_EQ(result.codebase_id(), codebase_.id());
  EXPECT_EQ(result.files(), 7);
  EXPECT_EQ(result.bytes(), 22);

  const fs::path dir = files(codebase_);
  EXPECT_EQ(read_file(dir / "bin" / "run.sh"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(mode_of(dir / "bin" / "run.sh"), 0755u);
  EXPECT_EQ(read_file(dir / "src" / "a" / "b" / "c.txt"), "deep");
  EXPECT_EQ(mode_of(dir / "src" / "a" / "b" / "c.txt"), 0644u);
  EXPECT_TRUE(fs::is_directory(dir / "empty"));
  EXPECT_EQ(mode_of(dir / "empty"), 0750u);
  EXPECT_EQ(fs::read_symlink(dir / "link"), "src/a/b/c.txt");
  EXPECT_EQ(fs::read_symlink(dir / "abs"), "/etc/passwd");  // verbatim, never followed
  EXPECT_TRUE(fs::equivalent(dir / "hard", dir / "bin" / "run.sh"));

  const v1::Codebase after = store_->get(codebase_.id());
  EXPECT_EQ(after.file_count(), 5);  // run.sh, c.txt, hard, link, abs
  EXPECT_EQ(after.size(), 18 + 4 + 18);
  EXPECT_EQ(store_->recount(codebase_.id()).size(), after.size());
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
}

TEST_F(ArchiveTest, GzipIsAutodetectedAndDestDirCreated) {
  const std::string tgz = make_tar({{.name = "x/y.txt", .data = "gz!"}}, true);
  ASSERT_EQ(static_cast<unsigned char>(tgz[0]), 0x1f);  // really gzip
  upload("/sub/dir", tgz);
  EXPECT_EQ(read_file(files(codebase_) / "sub" / "dir" / "x" / "y.txt"), "gz!");
  EXPECT_EQ(store_->get(codebase_.id()).size(), 3);
}

TEST_F(ArchiveTest, MergesIntoExistingTreeAndReplacesFiles) {
  store_->upload(codebase_.id(), "keep/old.txt", 0, chunks_of({"old"}));
  store_->upload(codebase_.id(), "keep/over.txt", 0, chunks_of({"0123456789"}));
  upload("/", make_tar({{.name = "keep/over.txt", .data = "new"},
                        {.name = "keep/added.txt", .data = "a"},
                        {.name = "dup", .data = "first"},
                        {.name = "dup", .data = "second"}}));
  const fs::path dir = files(codebase_);
  EXPECT_EQ(read_file(dir / "keep" / "old.txt"), "old");
  EXPECT_EQ(read_file(dir / "keep" / "over.txt"), "new");
  EXPECT_EQ(read_file(dir / "dup"), "second");
  const v1::Codebase after = store_->get(codebase_.id());
  EXPECT_EQ(after.size(), 3 + 3 + 1 + 6);
  EXPECT_EQ(after.file_count(), 4);
}

TEST_F(ArchiveTest, DotDotEntryIsRejectedAndCodebaseUnchanged) {
  store_->upload(codebase_.id(), "existing.txt", 0, chunks_of({"same"}));
  expect_rejected({{.name = "good.txt", .data = "fine"}, {.name = "../evil", .data = "bad"}},
                  "../evil");
  expect_rejected({{.name = "a/../../evil", .data = "bad"}}, "a/../../evil");
  EXPECT_EQ(entries_in(files(codebase_)), 1u);  // good.txt did not land either
  EXPECT_FALSE(fs::exists(codebases_ / "evil"));
  EXPECT_FALSE(fs::exists(root_ / "evil"));
  const v1::Codebase after = store_->get(codebase_.id());
  EXPECT_EQ(after.size(), 4);
  EXPECT_EQ(after.file_count(), 1);
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
}

// One entry 25,000 levels deep (219 bytes as tar.gz) made every walk of the store fail
// on the open-file limit, left its staging tree behind and then stopped the server from
// starting. Paths are what a path syscall takes, at most 4095 bytes.
TEST_F(ArchiveTest, PathsLongerThanASyscallTakesAreRefused) {
  std::string deep;
  for (int level = 0; level < 25000; ++level) deep += "d/";
  expect_rejected({{.name = deep + "f", .data = "x"}}, "is longer than 4095 bytes");
  EXPECT_EQ(entries_in(files(codebase_)), 0u);
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
  const ApiError error =
      api_error_of([&] { store_->upload(codebase_.id(), deep + "f", 0, chunks_of({"x"})); });
  EXPECT_EQ(error.code(), StatusCode::INVALID_ARGUMENT);
  std::string long_but_allowed = std::string(200, 'a');  // 20 names of 200 bytes: 4,020
  for (int name = 1; name < 20; ++name) long_but_allowed += "/" + std::string(200, 'a');
  store_->upload(codebase_.id(), long_but_allowed, 0, chunks_of({"x"}));
}

TEST_F(ArchiveTest, AbsoluteEntryIsRejected) {
  expect_rejected({{.name = "/etc/evil", .data = "bad"}}, "/etc/evil");
  EXPECT_FALSE(fs::exists("/etc/evil"));
}

TEST_F(ArchiveTest, EntryThroughEarlierSymlinkIsRejected) {
  expect_rejected({{.name = "l", .type = AE_IFLNK, .perm = 0777, .link = outside_.string()},
                   {.name = "l/victim.txt", .data = "pwned"}},
                  "/l");
  expect_rejected({{.name = "l", .type = AE_IFLNK, .perm = 0777, .link = outside_.string()},
                   {.name = "l/new.txt", .data = "pwned"}},
                  "/l");
  EXPECT_EQ(read_file(outside_ / "victim.txt"), "untouched");
  EXPECT_EQ(entries_in(outside_), 1u);
  EXPECT_EQ(entries_in(files(codebase_)), 0u);
}

TEST_F(ArchiveTest, ExistingSymlinkInCodebaseIsReplacedNotFollowed) {
  fs::create_directory_symlink(outside_, files(codebase_) / "link");
  ASSERT_EQ(store_->recount(codebase_.id()).file_count(), 1);
  upload("/", make_tar({{.name = "link/victim.txt", .data = "pwned"}}));
  EXPECT_EQ(read_file(outside_ / "victim.txt"), "untouched");
  EXPECT_FALSE(fs::is_symlink(files(codebase_) / "link"));
  EXPECT_EQ(read_file(files(codebase_) / "link" / "victim.txt"), "pwned");
  EXPECT_EQ(store_->get(codebase_.id()).file_count(), 1);  // -1 symlink, +1 file
  EXPECT_EQ(store_->get(codebase_.id()).size(), 5);
}

TEST_F(ArchiveTest, UnsupportedEntriesAndGarbageAreRejected) {
  expect_rejected({{.name = "fifo", .type = AE_IFIFO}}, "fifo");
  expect_rejected({{.name = "h", .hardlink = "not-in-archive"}}, "/h");
  const ApiError garbage = api_error_of(
      [&] { store_->upload_archive(codebase_.id(), "/", chunks_of({std::string(5000, 'z')})); });
  EXPECT_EQ(garbage.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(entries_in(files(codebase_)), 0u);
}

TEST_F(ArchiveTest, NonAsciiNamesArriveByteForByte) {
  const std::string name = "d\xc3\xa9j\xc3\xa0/\xe2\x9c\x93.txt";  // "déjà/✓.txt" in UTF-8
  upload("/", make_tar({{.name = name, .data = "utf8"}}));
  EXPECT_EQ(read_file(files(codebase_) / name), "utf8");
}

TEST_F(ArchiveTest, BrokenClientStreamPropagatesItsError) {
  const std::string tar = make_tar({{.name = "f", .data = std::string(100'000, 'x')}});
  std::vector<std::string> chunks = split(tar, 4096);
  size_t index = 0;
  const Next<std::string> broken = [&](std::string& out) {
    if (index == 5) throw std::runtime_error("client went away");
    out = chunks[index++];
    return true;
  };
  try {
    store_->upload_archive(codebase_.id(), "/", broken);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "client went away");
  }
  EXPECT_EQ(entries_in(files(codebase_)), 0u);
}

// Issue 9: a 3 MB tar.gz became a 3 GiB codebase. Every limit stops the extraction as it
// happens and leaves neither codebase files nor staging behind.
class ArchiveLimitTest : public ArchiveTest {
 protected:
  void SetUp() override {
    limits_ = {.max_upload_bytes = 100'000,
               .max_codebase_bytes = 200'000,
               .max_archive_bytes = 150'000,
               .max_archive_entries = 20,
               .max_archive_ratio = 10};
    ArchiveTest::SetUp();
  }
  void expect_over(const std::string& tar, const std::string& setting) {
    const ApiError error = api_error_of([&] { upload("/", tar); });
    EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED) << error.what();
    EXPECT_EQ(error.reason(), kReasonQuotaExceeded);
    EXPECT_NE(std::string(error.what()).find(setting), std::string::npos) << error.what();
    EXPECT_EQ(entries_in(files(codebase_)), 0u);
    EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
    EXPECT_EQ(store_->get(codebase_.id()).size(), 0);
  }
};

TEST_F(ArchiveLimitTest, TooManyEntries) {
  std::vector<TarEntry> entries;
  for (int i = 0; i < 21; ++i) entries.push_back({.name = "f" + std::to_string(i), .data = "x"});
  expect_over(make_tar(entries, true), "storage.max_archive_entries (20)");
  entries.pop_back();
  upload("/", make_tar(entries, true));  // 20 fit
  EXPECT_EQ(entries_in(files(codebase_)), 20u);
}

TEST_F(ArchiveLimitTest, TooManyBytesSent) {
  std::string noise;
  for (int i = 0; i < 120'000; ++i) noise += static_cast<char>('a' + (i * 7919) % 26);
  expect_over(make_tar({{.name = "noise", .data = noise}}), "storage.max_upload_bytes");
}

TEST_F(ArchiveLimitTest, ExpandingPastTheArchiveOrCodebaseLimit) {
  const std::string half(80'000, 'h');
  expect_over(make_tar({{.name = "a", .data = half}, {.name = "b", .data = half}}, true),
              "storage.max_archive_bytes (150000 bytes)");
  store_->upload(codebase_.id(), "existing", 0, chunks_of({std::string(90'000, 'e')}));
  const ApiError error = api_error_of(
      [&] { upload("/", make_tar({{.name = "a", .data = std::string(120'000, 'a')}}, true)); });
  EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(std::string(error.what()).find("storage.max_codebase_bytes"), std::string::npos)
      << error.what();
  EXPECT_EQ(entries_in(files(codebase_)), 1u);
}

// The room was taken before streaming: archives streamed side by side each had all of
// it (four 1 MiB archives stored 4 MiB under a 1 MiB limit). Here a second archive lands
// while the first is still arriving; the first is refused when it would be merged.
TEST_F(ArchiveLimitTest, ArchivesStreamedSideBySideShareTheRoom) {
  const std::vector<std::string> first =
      split(make_tar({{.name = "a", .data = std::string(60'000, 'a')}}, true), 64);
  ASSERT_GE(first.size(), 2u);
  bool second_landed = false;
  std::size_t next = 0;
  const Next<std::string> interleaved = [&](std::string& out) {
    if (next == 1 && !second_landed) {  // the first chunk is in; the second archive lands
      upload("/", make_tar({{.name = "b", .data = std::string(150'000, 'b')}}, true));
      second_landed = true;
    }
    if (next == first.size()) return false;
    out = first[next++];
    return true;
  };
  const ApiError error =
      api_error_of([&] { store_->upload_archive(codebase_.id(), "/", interleaved); });
  EXPECT_TRUE(second_landed);
  EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED) << error.what();
  EXPECT_NE(std::string(error.what()).find("storage.max_codebase_bytes"), std::string::npos)
      << error.what();
  EXPECT_FALSE(fs::exists(files(codebase_) / "a"));
  EXPECT_EQ(store_->get(codebase_.id()).size(), 150'000);
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
}

// Directories and symlinks take disk too: archives of empty directories and 4 KB
// symlink targets put 124 MB under a 1 MiB limit while the codebase counted 0 bytes.
// Each is charged a block (layer::kEntryBlockBytes), against the same limit.
TEST_F(ArchiveLimitTest, DirectoriesAndSymlinksAreChargedABlockEach) {
  std::vector<TarEntry> entries;
  for (int i = 0; i < 10; ++i)
    entries.push_back({.name = "d" + std::to_string(i), .type = AE_IFDIR});
  for (int i = 0; i < 10; ++i)
    entries.push_back(
        {.name = "l" + std::to_string(i), .type = AE_IFLNK, .link = std::string(4000, 'x')});
  upload("/", make_tar(entries, true));              // 20 blocks: 81,920 bytes of 200,000
  EXPECT_EQ(store_->get(codebase_.id()).size(), 0);  // the API's size: file bytes
  EXPECT_EQ(store_->charged(codebase_.id()), 20 * layer::kEntryBlockBytes);
  upload("/more", make_tar(entries, true));  // + /more and 20: 168 KiB
  EXPECT_EQ(store_->charged(codebase_.id()), 41 * layer::kEntryBlockBytes);
  const ApiError error = api_error_of([&] { upload("/again", make_tar(entries, true)); });
  EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED) << error.what();
  EXPECT_NE(std::string(error.what()).find("storage.max_codebase_bytes"), std::string::npos)
      << error.what();
  EXPECT_FALSE(fs::exists(files(codebase_) / "again"));
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
  // A recount measures the same charge from the disk.
  store_->recount(codebase_.id());
  EXPECT_EQ(store_->charged(codebase_.id()), 41 * layer::kEntryBlockBytes);
}

TEST_F(ArchiveLimitTest, ASmallArchiveOfZerosCannotExpandPastTheRatio) {
  limits_ = {.max_archive_ratio = 10};  // only the ratio (and its 64 MiB allowance)
  reopen();
  codebase_ = store_->create("bomb", "alice");
  const std::string zeros(kArchiveRatioFreeBytes + (4 << 20), '\0');
  const std::string bomb = make_tar({{.name = "zeros", .data = zeros}}, true);
  ASSERT_LT(bomb.size(), zeros.size() / 100);
  expect_over(bomb, "storage.max_archive_ratio (10)");
  // Within the allowance any ratio is fine.
  upload("/", make_tar({{.name = "small", .data = std::string(1 << 20, '\0')}}, true));
}

// A ustar header for a regular file of `size` bytes, by hand: writing one with libarchive
// would pad the archive with the promised data.
std::string ustar_header(const std::string& name, std::int64_t size) {
  std::string header(512, '\0');
  const auto put = [&header](size_t offset, const std::string& text) {
    header.replace(offset, text.size(), text);
  };
  char octal[16];
  put(0, name);
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  std::snprintf(octal, sizeof octal, "%011llo", static_cast<unsigned long long>(size));
  put(124, octal);
  put(136, "00000000000");
  put(148, "        ");  // the checksum counts itself as spaces
  put(156, "0");
  put(257, "ustar");
  put(263, "00");
  unsigned sum = 0;
  for (const char c : header) sum += static_cast<unsigned char>(c);
  std::snprintf(octal, sizeof octal, "%06o", sum);
  put(148, std::string(octal, 6) + '\0' + ' ');
  return header;
}

TEST_F(ArchiveLimitTest, AHeaderPromisingMoreThanTheLimitIsRefusedBeforeItsData) {
  expect_over(ustar_header("huge", std::int64_t{1} << 30), "storage.max_archive_bytes");
}

}  // namespace
}  // namespace agentfense::store::testing
