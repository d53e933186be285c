// One SQLite connection for the whole server, shared by every request thread.
//
// Threading: SQLite connections are not safe to use from two threads at once in our
// build mode, and the metadata workload is tiny, so the store keeps ONE connection guarded
// by ONE recursive mutex. Every use of a Statement must happen while holding lock() (or a
// Transaction, which holds it); recursive so that a method already inside a transaction can
// call a helper that locks again. WAL mode lets other processes (sqlite3 CLI, backups) read
// while we write; busy_timeout rides out their short locks.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentfense::store {

class Database;

// A prepared statement; finalized on destruction. Bind indexes are 1-based (SQLite's),
// column indexes 0-based.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);

  // Advances to the next row: true when a row is available, false when done.
  bool step();
  // Runs a statement that returns no rows.
  void run();

  int64_t column_int64(int index) const;
  std::string column_text(int index) const;
  std::string column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens (creating if absent) the database file and brings its schema up to date by
  // applying `migrations[i]` for every i >= the stored version, each in its own
  // transaction. Migrations are append-only: released entries are never edited.
  static std::unique_ptr<Database> open(const std::string& path,
                                        const std::vector<std::string>& migrations);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  std::unique_lock<std::recursive_mutex> lock() {
    return std::unique_lock<std::recursive_mutex>(mutex_);
  }
  void exec(std::string_view sql);
  int schema_version();
  sqlite3* handle() const { return db_; }

  // Throws DatabaseError naming `what`, SQLite's message and the result code.
  [[noreturn]] void fail(std::string_view what, int rc) const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  void migrate(const std::vector<std::string>& migrations);

  sqlite3* db_;
  std::recursive_mutex mutex_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when destroyed uncommitted (an exception).
// IMMEDIATE takes the write lock up front so read-then-write sequences cannot deadlock
// against another writer. Holds the database mutex for its whole life.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& db_;
  std::unique_lock<std::recursive_mutex> lock_;
  bool done_ = false;
};

// "?4, ?5, ?6" for `count` numbered parameters from `first`: an IN (...) list of values
// bound one by one (never spliced into the SQL text).
inline std::string placeholders(int first, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i)
    out += (i ? ", ?" : "?") + std::to_string(first + static_cast<int>(i));
  return out;
}

// Thrown for SQLite failures; `rc` is the extended result code (e.g.
// SQLITE_CONSTRAINT_FOREIGNKEY) so callers can turn constraint failures into API errors.
class DatabaseError : public std::runtime_error {
 public:
  DatabaseError(const std::string& message, int rc) : std::runtime_error(message), rc_(rc) {}
  int rc() const { return rc_; }

 private:
  int rc_;
};

}  // namespace agentfense::store
