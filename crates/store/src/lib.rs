//! Durable storage of podyard's state behind one interface.
//!
//! The state core is the only writer. It hands the store the [`Change`]s of a batch of
//! commands and acknowledges them to clients only once [`Store::commit`] has returned, so
//! the store decides durability: the SQLite implementation commits each batch in one
//! transaction in WAL mode with `synchronous=FULL`, which survives `kill -9` and power loss.
//! A PostgreSQL implementation for a highly-available control plane fits the same trait.

mod sqlite;

use podyard_core::{ApiKey, Change, Machine, Pod, User};
use thiserror::Error;

pub use sqlite::SqliteStore;

/// Everything the store holds, read at start-up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub users: Vec<User>,
    pub api_keys: Vec<ApiKey>,
    pub machines: Vec<Machine>,
    pub pods: Vec<Pod>,
}

pub trait Store: Send + 'static {
    /// Reads the whole state.
    fn load(&mut self) -> Result<Snapshot, LoadStateError>;

    /// Makes `changes` durable, all or none. Changes that are not durable are skipped.
    fn commit(&mut self, changes: &[Change]) -> Result<(), CommitChangesError>;
}

#[derive(Debug, Error)]
pub enum OpenStoreError {
    #[error("cannot open the SQLite database at {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot prepare the SQLite database at {path}")]
    Migrate {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the database at {path} has schema version {found}; this podyard knows {known}")]
    UnknownSchema {
        path: String,
        found: i64,
        known: i64,
    },
}

#[derive(Debug, Error)]
pub enum LoadStateError {
    #[error("cannot read {table} from the database")]
    Read {
        table: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("a row of {table} with key {key} does not decode")]
    Decode {
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Error)]
pub enum CommitChangesError {
    #[error("cannot write the batch to the database")]
    Write(#[source] rusqlite::Error),
    #[error("cannot encode a record")]
    Encode(#[source] serde_json::Error),
}
