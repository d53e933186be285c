#include "store/database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::store {

Statement::Statement(Database& db, std::string_view sql) : db_(db) {
  const int rc =
      sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail("prepare \"" + std::string(sql) + "\"", rc);
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so callers may pass temporaries.
  const int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  const int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

Statement& Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_.fail("bind", rc);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail(std::string("step \"") + sqlite3_sql(stmt_) + "\"", rc);
}

void Statement::run() {
  while (step()) {
  }
}

int64_t Statement::column_int64(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string Statement::column_text(int index) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  return text ? std::string(text, sqlite3_column_bytes(stmt_, index)) : std::string();
}

std::string Statement::column_blob(int index) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
  return data ? std::string(data, sqlite3_column_bytes(stmt_, index)) : std::string();
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

namespace {

// The database names every tenant's codebases, sandboxes and sessions: only the server
// may read it, wherever `storage.db_path` puts it. SQLite creates a database with 0644
// (less the umask) and its -wal, -shm and -journal files with the database's mode, so
// the database is made 0600 before SQLite opens it; files an older server left wider
// are narrowed.
void make_owner_only(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw SystemError("create database " + path, errno);
  const UniqueFd file(fd);
  check_syscall(::fchmod(file.get(), 0600), "chmod database " + path);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string companion = path + suffix;
    // Absent is the usual case; a companion we cannot narrow is refused like the database.
    if (::chmod(companion.c_str(), 0600) != 0 && errno != ENOENT)
      throw SystemError("chmod " + companion, errno);
  }
}

}  // namespace

std::unique_ptr<Database> Database::open(const std::string& path,
                                         const std::vector<std::string>& migrations) {
  make_owner_only(path);
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    throw DatabaseError("open database " + path + ": " + message, rc);
  }
  std::unique_ptr<Database> db(new Database(raw));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  {
    Statement wal(*db, "PRAGMA journal_mode=WAL");
    wal.run();
  }
  db->exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;");
  db->migrate(migrations);
  return db;
}

Database::~Database() {
  sqlite3_close_v2(db_);
}

void Database::fail(std::string_view what, int rc) const {
  throw DatabaseError("sqlite " + std::string(what) + ": " + sqlite3_errmsg(db_), rc);
}

void Database::exec(std::string_view sql) {
  auto guard = lock();
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw DatabaseError("sqlite exec: " + message, rc);
  }
}

int Database::schema_version() {
  auto guard = lock();
  Statement query(*this, "SELECT version FROM schema_version");
  return query.step() ? static_cast<int>(query.column_int64(0)) : 0;
}

void Database::migrate(const std::vector<std::string>& migrations) {
  exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const int current = schema_version();
  if (current > static_cast<int>(migrations.size())) {
    // Opened by a newer server: refusing is safer than guessing at an unknown schema.
    throw DatabaseError("database schema version " + std::to_string(current) +
                            " is newer than this server understands (" +
                            std::to_string(migrations.size()) + ")",
                        SQLITE_ERROR);
  }
  for (int version = current; version < static_cast<int>(migrations.size()); ++version) {
    Transaction tx(*this);
    exec(migrations[version]);
    exec("DELETE FROM schema_version");
    Statement(*this, "INSERT INTO schema_version (version) VALUES (?)").bind(1, version + 1).run();
    tx.commit();
  }
}

Transaction::Transaction(Database& db) : db_(db), lock_(db.lock()) {
  db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (done_) return;
  // A failed ROLLBACK (the transaction was already rolled back by SQLite) leaves nothing
  // to undo, and a destructor must not throw.
  sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace agentfense::store
