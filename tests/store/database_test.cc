#include "store/database.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

namespace agentfense::store {
namespace {

namespace fs = std::filesystem;

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-db-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    path_ = (dir_ / "t.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string path_;
};

const std::vector<std::string> kV1 = {"CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"};
const std::vector<std::string> kV2 = {kV1[0], "ALTER TABLE t ADD COLUMN note TEXT"};

TEST_F(DatabaseTest, MigrationsApplyInOrderAndOnlyOnce) {
  {
    auto db = Database::open(path_, kV1);
    EXPECT_EQ(db->schema_version(), 1);
    Statement(*db, "INSERT INTO t (k, v) VALUES (?, ?)").bind(1, "a").bind(2, 1).run();
  }
  auto db = Database::open(path_, kV2);  // must not re-run CREATE TABLE
  EXPECT_EQ(db->schema_version(), 2);
  Statement(*db, "UPDATE t SET note = ? WHERE k = ?").bind(1, "n").bind(2, "a").run();
  Statement query(*db, "SELECT v, note FROM t WHERE k = 'a'");
  ASSERT_TRUE(query.step());
  EXPECT_EQ(query.column_int64(0), 1);
  EXPECT_EQ(query.column_text(1), "n");
}

TEST_F(DatabaseTest, NewerSchemaThanKnownIsRefused) {
  Database::open(path_, kV2);
  EXPECT_THROW(Database::open(path_, kV1), DatabaseError);
}

TEST_F(DatabaseTest, WalAndForeignKeysAreOn) {
  auto db = Database::open(path_, kV1);
  Statement mode(*db, "PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.column_text(0), "wal");
  Statement fk(*db, "PRAGMA foreign_keys");
  ASSERT_TRUE(fk.step());
  EXPECT_EQ(fk.column_int64(0), 1);
}

TEST_F(DatabaseTest, TransactionRollsBackUnlessCommitted) {
  auto db = Database::open(path_, kV1);
  try {
    Transaction tx(*db);
    Statement(*db, "INSERT INTO t (k, v) VALUES ('x', 1)").run();
    throw std::runtime_error("abort");
  } catch (const std::runtime_error&) {
  }
  {
    Transaction tx(*db);
    Statement(*db, "INSERT INTO t (k, v) VALUES ('y', 2)").run();
    tx.commit();
  }
  Statement query(*db, "SELECT group_concat(k) FROM t");
  ASSERT_TRUE(query.step());
  EXPECT_EQ(query.column_text(0), "y");
}

TEST_F(DatabaseTest, BlobsRoundTripWithNulBytes) {
  auto db = Database::open(path_, {"CREATE TABLE b (v BLOB)"});
  const std::string bytes("a\0b\xff", 4);
  Statement(*db, "INSERT INTO b (v) VALUES (?)").bind_blob(1, bytes).run();
  Statement query(*db, "SELECT v FROM b");
  ASSERT_TRUE(query.step());
  EXPECT_EQ(query.column_blob(0), bytes);
}

TEST_F(DatabaseTest, ConstraintErrorsCarryTheExtendedCode) {
  auto db = Database::open(path_, kV1);
  Statement(*db, "INSERT INTO t (k, v) VALUES ('a', 1)").run();
  try {
    Statement(*db, "INSERT INTO t (k, v) VALUES ('a', 2)").run();
    FAIL() << "duplicate key accepted";
  } catch (const DatabaseError& e) {
    EXPECT_EQ(e.rc(), SQLITE_CONSTRAINT_PRIMARYKEY);
  }
}

TEST_F(DatabaseTest, ConcurrentWritersUnderTheLockAllLand) {
  auto db = Database::open(path_, kV1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Transaction tx(*db);
        Statement(*db, "INSERT INTO t (k, v) VALUES (?, ?)")
            .bind(1, std::to_string(t) + "-" + std::to_string(i))
            .bind(2, i)
            .run();
        tx.commit();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto guard = db->lock();
  Statement query(*db, "SELECT COUNT(*) FROM t");
  ASSERT_TRUE(query.step());
  EXPECT_EQ(query.column_int64(0), 200);
}

}  // namespace
}  // namespace agentfense::store
