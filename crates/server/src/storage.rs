//! Opens the configured storage backend behind the `Store` trait.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use medvault_store::{OpenError, Store};
use medvault_store_postgres::PostgresStore;
use medvault_store_sqlite::SqliteStore;

use crate::config::Database;

pub async fn open(database: &Database) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Database::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// Creates the data dir private to this user (0700) if it does not exist yet.
pub fn ensure_data_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}
