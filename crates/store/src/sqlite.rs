//! The embedded store: one SQLite file in the data directory.
//!
//! Records are kept as JSON of the core types, one table per kind, keyed by id; the
//! in-memory state is rebuilt from them at start-up. This keeps the schema small while the
//! domain types move, at the price of no SQL queries over fields (none are needed: reads
//! are served from memory).

use std::path::Path;

use podyard_core::{ApiKey, Change, Machine, Pod, User};
use rusqlite::{params, Connection, Transaction};
use serde::de::DeserializeOwned;

use crate::{CommitChangesError, LoadStateError, OpenStoreError, Snapshot, Store};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE users (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE api_keys (hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE machines (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE pods (id TEXT PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL);
";

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, OpenStoreError> {
        let shown = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| OpenStoreError::Open {
            path: shown.clone(),
            source,
        })?;
        let migrate = |source| OpenStoreError::Migrate {
            path: shown.clone(),
            source,
        };
        // WAL with synchronous=FULL syncs the log at every commit: an acknowledged batch
        // survives power loss, and readers of the file never block the writer.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(migrate)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(migrate)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(migrate)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(migrate)?;
        match found {
            0 => {
                conn.execute_batch(SCHEMA).map_err(migrate)?;
                conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(migrate)?;
            }
            SCHEMA_VERSION => {}
            found => {
                return Err(OpenStoreError::UnknownSchema {
                    path: shown,
                    found,
                    known: SCHEMA_VERSION,
                })
            }
        }
        Ok(Self { conn })
    }

    fn read_table<T: DeserializeOwned>(
        &self,
        table: &'static str,
        sql: &str,
    ) -> Result<Vec<T>, LoadStateError> {
        let read = |source| LoadStateError::Read { table, source };
        let mut stmt = self.conn.prepare(sql).map_err(read)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(read)?;
        let mut out = Vec::new();
        for row in rows {
            let (key, body) = row.map_err(read)?;
            let value = serde_json::from_str(&body).map_err(|source| LoadStateError::Decode {
                table,
                key,
                source,
            })?;
            out.push(value);
        }
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot, LoadStateError> {
        Ok(Snapshot {
            users: self.read_table::<User>("users", "SELECT id, body FROM users")?,
            api_keys: self.read_table::<ApiKey>("api_keys", "SELECT hash, body FROM api_keys")?,
            machines: self.read_table::<Machine>("machines", "SELECT id, body FROM machines")?,
            pods: self.read_table::<Pod>("pods", "SELECT id, body FROM pods")?,
        })
    }

    fn commit(&mut self, changes: &[Change]) -> Result<(), CommitChangesError> {
        if !changes.iter().any(Change::is_durable) {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(CommitChangesError::Write)?;
        for change in changes {
            write_change(&tx, change)?;
        }
        tx.commit().map_err(CommitChangesError::Write)
    }
}

fn write_change(tx: &Transaction<'_>, change: &Change) -> Result<(), CommitChangesError> {
    let result = match change {
        Change::PutUser(user) => tx.execute(
            "INSERT OR REPLACE INTO users (id, body) VALUES (?1, ?2)",
            params![user.id.as_str(), encode(user)?],
        ),
        Change::PutApiKey(key) => tx.execute(
            "INSERT OR REPLACE INTO api_keys (hash, user_id, body) VALUES (?1, ?2, ?3)",
            params![key.hash, key.user_id.as_str(), encode(key)?],
        ),
        Change::PutMachine(machine) => tx.execute(
            "INSERT OR REPLACE INTO machines (id, body) VALUES (?1, ?2)",
            params![machine.id.as_str(), encode(machine)?],
        ),
        Change::PutPod(pod) => tx.execute(
            "INSERT OR REPLACE INTO pods (id, owner, body) VALUES (?1, ?2, ?3)",
            params![pod.id.as_str(), pod.owner.as_str(), encode(pod)?],
        ),
        Change::DeletePod(id) => tx.execute("DELETE FROM pods WHERE id = ?1", [id.as_str()]),
        Change::Observe(_) => return Ok(()),
    };
    result.map(drop).map_err(CommitChangesError::Write)
}

fn encode<T: serde::Serialize>(record: &T) -> Result<String, CommitChangesError> {
    serde_json::to_string(record).map_err(CommitChangesError::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use podyard_core::{KeyAccess, UserId};

    fn user(name: &str) -> User {
        User {
            id: UserId::generate(),
            name: name.to_string(),
            email: format!("{name}@localhost"),
            pub_key: String::new(),
            admin: false,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn committed_changes_are_there_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let alice = user("alice");
        let key = ApiKey {
            hash: "ab".repeat(32),
            user_id: alice.id.clone(),
            access: KeyAccess::ReadOnly,
            created_at: Utc::now(),
        };
        {
            let mut store = SqliteStore::open(&path).unwrap();
            store
                .commit(&[
                    Change::PutUser(alice.clone()),
                    Change::PutApiKey(key.clone()),
                ])
                .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let snapshot = store.load().unwrap();
        assert_eq!(snapshot.users, vec![alice]);
        assert_eq!(snapshot.api_keys, vec![key]);
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(OpenStoreError::UnknownSchema { found: 99, .. })
        ));
    }
}
