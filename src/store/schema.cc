#include "store/schema.h"

namespace agentfense::store {

// Times are microseconds since the epoch (INTEGER): they order exactly and are the
// keyset half of page tokens. Sandboxes and sessions keep their full proto in `proto`;
// the other columns exist only to filter, order and join.
const std::vector<std::string>& store_migrations() {
  static const std::vector<std::string> migrations = {
      // 1: initial schema.
      R"sql(
        CREATE TABLE codebases (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          owner_id TEXT NOT NULL,
          size INTEGER NOT NULL DEFAULT 0,
          file_count INTEGER NOT NULL DEFAULT 0,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          imported_from TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX codebases_by_created ON codebases (created_at, id);
        CREATE INDEX codebases_by_owner ON codebases (owner_id, created_at, id);

        -- No ON DELETE CASCADE: deleting a codebase that sandboxes still use must fail.
        CREATE TABLE sandboxes (
          id TEXT PRIMARY KEY,
          codebase_id TEXT NOT NULL REFERENCES codebases (id),
          status INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          proto BLOB NOT NULL
        );
        CREATE INDEX sandboxes_by_created ON sandboxes (created_at, id);
        CREATE INDEX sandboxes_by_codebase ON sandboxes (codebase_id, created_at, id);

        CREATE TABLE sessions (
          id TEXT PRIMARY KEY,
          sandbox_id TEXT NOT NULL REFERENCES sandboxes (id) ON DELETE CASCADE,
          status INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          proto BLOB NOT NULL
        );
        CREATE INDEX sessions_by_sandbox ON sessions (sandbox_id, created_at, id);
      )sql",
      // 2: the authenticated principal each codebase, sandbox and session is charged to
      // (per-principal quotas; '' = created without authentication). Scoping goes by
      // the codebase's owner_id, which the server now checks against the principal.
      R"sql(
        ALTER TABLE codebases ADD COLUMN principal TEXT NOT NULL DEFAULT '';
        ALTER TABLE sandboxes ADD COLUMN principal TEXT NOT NULL DEFAULT '';
        ALTER TABLE sessions ADD COLUMN principal TEXT NOT NULL DEFAULT '';
        CREATE INDEX codebases_by_principal ON codebases (principal);
        CREATE INDEX sandboxes_by_principal ON sandboxes (principal, status);
        CREATE INDEX sessions_by_principal ON sessions (principal, status);
      )sql",
      // 3: what the limits count (storage.max_codebase_bytes, quotas.stored_bytes): the
      // file bytes plus a block per directory and symlink, which `size` leaves out. Rows
      // from before start at their file bytes; the next recount adds the rest.
      R"sql(
        ALTER TABLE codebases ADD COLUMN charged INTEGER NOT NULL DEFAULT 0;
        UPDATE codebases SET charged = size;
      )sql",
  };
  return migrations;
}

}  // namespace agentfense::store
