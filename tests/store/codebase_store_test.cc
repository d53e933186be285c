#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "layer/tree_bytes.h"
#include "store/sandbox_records.h"
#include "store/timestamps.h"
#include "store_test_util.h"

namespace agentfense::store::testing {
namespace {

TEST_F(StoreTest, CreateMakesRowAndDirectory) {
  const v1::Codebase codebase = store_->create("demo", "alice");
  EXPECT_TRUE(codebase.id().starts_with("cb_"));
  EXPECT_EQ(codebase.id().size(), 3u + 16u);
  EXPECT_EQ(codebase.name(), "demo");
  EXPECT_EQ(codebase.owner_id(), "alice");
  EXPECT_EQ(codebase.size(), 0);
  EXPECT_EQ(codebase.file_count(), 0);
  EXPECT_GT(codebase.created_at().seconds(), 0);
  EXPECT_TRUE(fs::is_directory(files(codebase)));
  EXPECT_EQ(mode_of(files(codebase)), 0700u);  // the server's alone
  EXPECT_EQ(store_->files_dir(codebase.id()), files(codebase).string());
  EXPECT_EQ(store_->get(codebase.id()).SerializeAsString(), codebase.SerializeAsString());
}

TEST_F(StoreTest, CreateWithoutNameIsInvalidArgument) {
  EXPECT_EQ(api_error_of([&] { store_->create("", "alice"); }).code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(StoreTest, UnknownCodebaseIsNotFoundWithReason) {
  const ApiError error = api_error_of([&] { store_->get("cb_0000000000000000"); });
  EXPECT_EQ(error.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(error.reason(), kReasonCodebaseNotFound);
  EXPECT_NE(std::string(error.what()).find("cb_0000000000000000"), std::string::npos);
  EXPECT_EQ(api_error_of([&] { store_->files_dir("cb_x"); }).code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(api_error_of([&] { store_->remove("cb_x"); }).code(), StatusCode::NOT_FOUND);
}

TEST_F(StoreTest, ListPagesThroughThreePagesInStableOrder) {
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i)
    created.insert(store_->create("cb" + std::to_string(i), "alice").id());
  store_->create("other", "bob");

  std::vector<v1::Codebase> seen;
  std::string token;
  int pages = 0;
  do {
    const v1::ListCodebasesResponse page = store_->list("alice", 3, token);
    ++pages;
    EXPECT_LE(page.codebases_size(), 3);
    for (const v1::Codebase& codebase : page.codebases()) seen.push_back(codebase);
    token = page.next_page_token();
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 7u);
  std::set<std::string> ids;
  for (size_t i = 0; i < seen.size(); ++i) {
    ids.insert(seen[i].id());
    if (i == 0) continue;
    const auto before = std::make_pair(to_us(seen[i - 1].created_at()), seen[i - 1].id());
    const auto after = std::make_pair(to_us(seen[i].created_at()), seen[i].id());
    EXPECT_LT(before, after) << "order is not (created_at, id)";
  }
  EXPECT_EQ(ids, created);

  // Same query again: same order (tokens are positions, not snapshots).
  const v1::ListCodebasesResponse again = store_->list("alice", 3, "");
  EXPECT_EQ(again.codebases(0).id(), seen[0].id());
  EXPECT_EQ(store_->list("", 0, "").codebases_size(), 8);
  EXPECT_EQ(store_->list("carol", 0, "").codebases_size(), 0);
}

TEST_F(StoreTest, ExactPageHasNoNextToken) {
  for (int i = 0; i < 3; ++i) store_->create("cb", "alice");
  const v1::ListCodebasesResponse page = store_->list("", 3, "");
  EXPECT_EQ(page.codebases_size(), 3);
  EXPECT_TRUE(page.next_page_token().empty());
}

TEST_F(StoreTest, GarbledTokenIsInvalidArgument) {
  for (int i = 0; i < 3; ++i) store_->create("cb", "alice");
  std::string token = store_->list("", 1, "").next_page_token();
  ASSERT_FALSE(token.empty());
  token[2] = token[2] == '!' ? '?' : '!';
  EXPECT_EQ(api_error_of([&] { store_->list("", 1, token); }).code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(api_error_of([&] { store_->list("", 1, "bm90IGEgdG9rZW4"); }).code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(StoreTest, DataSurvivesRestart) {
  const v1::Codebase codebase = store_->create("persist", "alice");
  store_->upload(codebase.id(), "a.txt", 0, chunks_of({"hello"}));
  reopen();
  const v1::Codebase again = store_->get(codebase.id());
  EXPECT_EQ(again.name(), "persist");
  EXPECT_EQ(again.size(), 5);
  EXPECT_EQ(again.file_count(), 1);
  EXPECT_EQ(store_->list("alice", 0, "").codebases_size(), 1);
  EXPECT_EQ(db_->schema_version(), static_cast<int>(store_migrations().size()));
}

TEST_F(StoreTest, RemoveDeletesTreeWithoutFollowingSymlinks) {
  const fs::path outside = root_ / "outside";
  write_file(outside / "keep.txt", "precious");
  const v1::Codebase codebase = store_->create("doomed", "alice");
  write_file(files(codebase) / "sub" / "f.txt", "x");
  fs::create_directory_symlink(outside, files(codebase) / "sub" / "link");
  store_->remove(codebase.id());
  EXPECT_FALSE(fs::exists(files(codebase)));
  EXPECT_EQ(read_file(outside / "keep.txt"), "precious");
  EXPECT_EQ(api_error_of([&] { store_->get(codebase.id()); }).code(), StatusCode::NOT_FOUND);
}

// `count` one-byte files in 10 subdirectories of `dir`.
void make_tree(const fs::path& dir, int count) {
  for (int i = 0; i < count; ++i) {
    const fs::path sub = dir / ("d" + std::to_string(i % 10));
    if (i < 10) fs::create_directories(sub);
    const int fd = ::open((sub / ("f" + std::to_string(i))).c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "x", 1), 1);
    ::close(fd);
  }
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

size_t files_below(const fs::path& dir) {
  size_t count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) ++count;
  return count;
}

// Sets or clears the immutable flag of `path` (root on ext4); false where unsupported.
bool set_immutable(const fs::path& path, bool on) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool done = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  done = done && ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  ::close(fd);
  return done;
}

// Deleting removed the row first and the files after: a removal that failed half-way
// left files outside every codebase, quota and clean-up, repeatable without end. The
// files now leave the codebase first; what cannot be removed yet is the next start's.
TEST_F(StoreTest, ADeleteThatCannotRemoveEveryFileLeavesThemToTheNextStart) {
  const v1::Codebase codebase = store_->create("stuck", "alice");
  store_->upload(codebase.id(), "d/stuck.txt", 0, chunks_of({"x"}));
  if (!set_immutable(files(codebase) / "d" / "stuck.txt", true))
    GTEST_SKIP() << "no immutable flag on this filesystem";
  store_->remove(codebase.id());  // the codebase is gone, whatever is left on disk
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_EQ(api_error_of([&] { store_->get(codebase.id()); }).code(), StatusCode::NOT_FOUND);
  EXPECT_FALSE(fs::exists(files(codebase)));
  const std::vector<std::string> trash = names_in(codebases_ / ".trash");
  ASSERT_EQ(trash.size(), 1u);
  EXPECT_TRUE(trash[0].starts_with("deleted_" + codebase.id() + ".")) << trash[0];
  const fs::path left = codebases_ / ".trash" / trash[0];
  ASSERT_TRUE(fs::exists(left / "d" / "stuck.txt"));
  reopen();  // still stuck: logged, not fatal
  ASSERT_TRUE(store_->wait_for_removals());
  ASSERT_TRUE(set_immutable(left / "d" / "stuck.txt", false));
  reopen();
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_FALSE(fs::exists(left));
}

// K17: start-up removed what a killed server left in .staging (a deleted codebase's
// tree) before the server listened: 30,000 files kept it down 85 s on a slow disk. The
// store now only renames .staging into the trash; the removal runs once started.
TEST_F(StoreTest, StartUpSetsALeftoverTreeAsideAndRemovesItOnlyOnceStarted) {
  store_.reset();
  const fs::path deleted = codebases_ / ".staging" / "deleted_cb_0123456789abcdef";
  make_tree(deleted, 3000);
  make_tree(codebases_ / ".staging" / "stage_0123456789abcdef", 10);  // an upload's scratch
  store_ = std::make_unique<CodebaseStore>(*db_, codebases_.string(), limits_);
  EXPECT_FALSE(fs::exists(codebases_ / ".staging"));
  const std::vector<std::string> trash = names_in(codebases_ / ".trash");
  ASSERT_EQ(trash.size(), 1u);
  EXPECT_TRUE(trash[0].starts_with("staging.")) << trash[0];
  // Nothing was removed yet: the constructor only renamed.
  EXPECT_EQ(files_below(codebases_ / ".trash"), 3010u);
  // Uploads work meanwhile (a fresh .staging).
  const v1::Codebase codebase = store_->create("new", "alice");
  store_->upload(codebase.id(), "a.txt", 0, chunks_of({"A"}));
  store_->start_removals();
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_EQ(names_in(codebases_ / ".trash"), std::vector<std::string>{});
  EXPECT_EQ(read_file(files(codebase) / "a.txt"), "A");
}

// A server killed while the trash was being emptied left part of a tree there: the next
// start's remover finishes it.
TEST_F(StoreTest, ATreeLeftHalfRemovedInTheTrashIsFinishedByTheNextStart) {
  store_.reset();
  make_tree(codebases_ / ".trash" / "deleted_cb_0123456789abcdef.0011223344556677", 500);
  reopen();
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_EQ(names_in(codebases_ / ".trash"), std::vector<std::string>{});
}

// DeleteCodebase answers once the row is gone and the files are renamed out of the
// codebase namespace; a codebase created meanwhile is unaffected by the removal.
TEST_F(StoreTest, RemoveLeavesTheFilesToTheRemoverAndANewCodebaseIsUnaffected) {
  store_.reset();
  store_ = std::make_unique<CodebaseStore>(*db_, codebases_.string(), limits_);  // not started
  const v1::Codebase doomed = store_->create("same", "alice");
  make_tree(files(doomed), 2000);
  store_->remove(doomed.id());
  EXPECT_FALSE(fs::exists(files(doomed)));
  EXPECT_EQ(files_below(codebases_ / ".trash"), 2000u);  // moved whole, not removed inline
  const v1::Codebase fresh = store_->create("same", "alice");
  make_tree(files(fresh), 20);
  store_->start_removals();
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_EQ(names_in(codebases_ / ".trash"), std::vector<std::string>{});
  EXPECT_EQ(files_below(files(fresh)), 20u);
  EXPECT_EQ(store_->recount(fresh.id()).file_count(), 20);
}

// Shutdown must not wait for a large tree: the remover stops between two unlinks and the
// rest stays in the trash for the next start.
TEST_F(StoreTest, DestroyingTheStoreStopsTheRemoverPromptly) {
  store_.reset();
  make_tree(codebases_ / ".staging" / "deleted_cb_0123456789abcdef", 3000);
  reopen();  // started: removing
  const auto began = std::chrono::steady_clock::now();
  store_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(1));
  reopen();
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_EQ(names_in(codebases_ / ".trash"), std::vector<std::string>{});
}

TEST_F(StoreTest, RemoveWhileSandboxesUseItIsFailedPrecondition) {
  const v1::Codebase codebase = store_->create("busy", "alice");
  SandboxRecords sandboxes(*db_);
  for (const char* id : {"sb_1", "sb_2"}) {
    v1::Sandbox sandbox;
    sandbox.set_id(id);
    sandbox.set_codebase_id(codebase.id());
    sandboxes.put(sandbox);
  }
  const ApiError error = api_error_of([&] { store_->remove(codebase.id()); });
  EXPECT_EQ(error.code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(std::string(error.what()).find("2 sandbox"), std::string::npos) << error.what();
  EXPECT_TRUE(fs::is_directory(files(codebase)));
  sandboxes.remove("sb_1");
  sandboxes.remove("sb_2");
  store_->remove(codebase.id());
  EXPECT_FALSE(fs::exists(files(codebase)));
}

TEST_F(StoreTest, RecountWalksTheTree) {
  const v1::Codebase codebase = store_->create("c", "alice");
  write_file(files(codebase) / "a" / "b.txt", "12345");
  write_file(files(codebase) / "c.txt", "123");
  fs::create_symlink("a/b.txt", files(codebase) / "ln");
  fs::create_directories(files(codebase) / "empty");
  const v1::Codebase counted = store_->recount(codebase.id());
  EXPECT_EQ(counted.size(), 8);
  EXPECT_EQ(counted.file_count(), 3);  // two files and a symlink; directories do not count
  // The limits charge every entry at least a block: a, empty, ln and the two small files.
  EXPECT_EQ(store_->charged(codebase.id()), 5 * layer::kEntryBlockBytes);
}

// A database from before the charge existed: its rows start charged their file bytes.
TEST_F(StoreTest, AnOlderDatabaseIsChargedItsFileBytesUntilTheNextRecount) {
  store_.reset();
  db_.reset();
  for (const char* suffix : {"", "-wal", "-shm"})
    fs::remove(root_ / ("meta.db" + std::string(suffix)));
  std::vector<std::string> older = store_migrations();
  older.pop_back();  // the migration that added `charged`
  {
    auto db = Database::open((root_ / "meta.db").string(), older);
    Statement(*db,
              "INSERT INTO codebases (id, name, owner_id, size, file_count, created_at, "
              "updated_at) VALUES ('cb_old', 'old', 'alice', 1234, 2, 1, 1)")
        .run();
  }
  reopen();
  EXPECT_EQ(store_->charged("cb_old"), 1234);
  EXPECT_EQ(store_->get("cb_old").size(), 1234);
}

class ImportTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    allowed_ = root_ / "allowed";
    project_ = allowed_ / "project";
    write_file(project_ / "src" / "main.c", "int main;");
    write_file(project_ / "README", "hi");
    roots_ = {allowed_.string()};
  }
  fs::path allowed_, project_;
  std::vector<std::string> roots_;
};

TEST_F(ImportTest, ImportInsideRootsServesInPlace) {
  const v1::Codebase codebase =
      store_->import_directory("proj", "alice", project_.string() + "/", roots_);
  EXPECT_EQ(codebase.imported_from(), project_.string());
  EXPECT_EQ(store_->files_dir(codebase.id()), project_.string());
  EXPECT_EQ(codebase.size(), 11);
  EXPECT_EQ(codebase.file_count(), 2);
  EXPECT_FALSE(fs::exists(codebases_ / codebase.id()));  // nothing copied
  EXPECT_EQ(store_->list_files(codebase.id(), "/", true).files_size(), 3);
}

TEST_F(ImportTest, DeletingAnImportedCodebaseLeavesItsDirectory) {
  const v1::Codebase codebase =
      store_->import_directory("proj", "alice", project_.string(), roots_);
  store_->remove(codebase.id());
  EXPECT_EQ(read_file(project_ / "src" / "main.c"), "int main;");
  EXPECT_EQ(read_file(project_ / "README"), "hi");
}

TEST_F(ImportTest, OutsideRootsIsPermissionDeniedNamingPathAndRoots) {
  const fs::path elsewhere = root_ / "elsewhere";
  fs::create_directories(elsewhere);
  const ApiError error =
      api_error_of([&] { store_->import_directory("x", "alice", elsewhere.string(), roots_); });
  EXPECT_EQ(error.code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(std::string(error.what()).find(elsewhere.string()), std::string::npos);
  EXPECT_NE(std::string(error.what()).find(allowed_.string()), std::string::npos);
}

TEST_F(ImportTest, EscapesThroughDotDotOrSymlinkAreResolvedFirst) {
  // Lexically under the root, really outside it.
  fs::create_directory_symlink(root_, allowed_ / "escape");
  for (const std::string& path :
       {(allowed_ / ".." / "codebases").string(), (allowed_ / "escape").string(),
        (allowed_ / "escape" / "codebases").string()}) {
    EXPECT_EQ(api_error_of([&] { store_->import_directory("x", "alice", path, roots_); }).code(),
              StatusCode::PERMISSION_DENIED)
        << path;
  }
  // A sibling sharing the root's name as a prefix is not under it.
  fs::create_directories(root_ / "allowed-not");
  EXPECT_EQ(api_error_of([&] {
              store_->import_directory("x", "alice", (root_ / "allowed-not").string(), roots_);
            }).code(),
            StatusCode::PERMISSION_DENIED);
}

TEST_F(ImportTest, BadPathsAndDisabledImport) {
  EXPECT_EQ(
      api_error_of([&] { store_->import_directory("x", "alice", project_.string(), {}); }).code(),
      StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(
      api_error_of([&] { store_->import_directory("x", "a", "relative/dir", roots_); }).code(),
      StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(api_error_of([&] {
              store_->import_directory("x", "a", (allowed_ / "missing").string(), roots_);
            }).code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(api_error_of([&] {
              store_->import_directory("x", "a", (project_ / "README").string(), roots_);
            }).code(),
            StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace agentfense::store::testing
