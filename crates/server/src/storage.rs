//! Opens the configured storage backend behind the `Store` trait.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use medvault_store::{OpenError, Store};
use medvault_store_postgres::PostgresStore;
use medvault_store_sqlite::SqliteStore;

use crate::config::{Database, KeyVault};
use crate::keyring::{self, UnsealError};

pub async fn open(database: &Database) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Database::Postgres { url, .. } => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// Opens the key vault: its own database (on SQLite always), or `records` itself. Either
/// way it is a medvault database of which only `key_shares` is used.
pub async fn open_vault(
    database: &Database,
    records: &Arc<dyn Store>,
) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match database.key_vault() {
        KeyVault::Sqlite(path) => Arc::new(SqliteStore::open(&path).await?),
        KeyVault::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
        KeyVault::Shared => records.clone(),
    })
}

/// The records database and the key vault, open.
#[derive(Debug, Clone)]
pub struct Stores {
    pub records: Arc<dyn Store>,
    pub vault: Arc<dyn Store>,
}

impl Stores {
    pub async fn open(database: &Database) -> Result<Self, OpenError> {
        let records = open(database).await?;
        match open_vault(database, &records).await {
            Ok(vault) => Ok(Self { records, vault }),
            Err(err) => {
                records.close().await;
                Err(err)
            }
        }
    }

    pub async fn close(&self) {
        self.records.close().await;
        if !Arc::ptr_eq(&self.records, &self.vault) {
            self.vault.close().await;
        }
    }
}

/// Creates the data dir private to this user (0700) if it does not exist yet.
pub fn ensure_data_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data dir {0}")]
    DataDir(String, #[source] std::io::Error),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Unseal(#[from] UnsealError),
}

/// What every command does first: the data dir, the databases (migrated), the master key.
pub async fn open_and_unseal(
    data_dir: &Path,
    database: &Database,
) -> Result<(Stores, medvault_crypto::MasterKey), StartError> {
    ensure_data_dir(data_dir)
        .map_err(|e| StartError::DataDir(data_dir.display().to_string(), e))?;
    let stores = Stores::open(database).await?;
    let provider = keyring::provider(data_dir);
    match keyring::unseal(stores.records.as_ref(), provider.as_ref()).await {
        Ok(key) => Ok((stores, key)),
        Err(err) => {
            stores.close().await;
            Err(err.into())
        }
    }
}

/// What an operator's CLI command works with: the store, the master key, and the audit
/// trail its actions are recorded in.
#[derive(Debug)]
pub struct Operator {
    pub data_dir: std::path::PathBuf,
    pub store: Arc<dyn Store>,
    pub vault: Arc<dyn Store>,
    pub master: Arc<medvault_crypto::MasterKey>,
    pub trail: Arc<crate::audit::AuditTrail>,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Audit(#[from] crate::audit::checkpoints::CheckpointError),
}

impl Operator {
    pub async fn open(
        data_dir: &Path,
        database: &Database,
        audit: crate::audit::AuditConfig,
    ) -> Result<Self, OperatorError> {
        let (stores, master) = open_and_unseal(data_dir, database).await?;
        match crate::audit::AuditTrail::start(stores.records.clone(), &master, audit).await {
            Ok(trail) => Ok(Self {
                data_dir: data_dir.to_owned(),
                store: stores.records,
                vault: stores.vault,
                master: Arc::new(master),
                trail: Arc::new(trail),
            }),
            Err(err) => {
                stores.close().await;
                Err(err.into())
            }
        }
    }

    /// Flushes and checkpoints the trail, then closes the stores.
    pub async fn close(self) {
        self.trail.close().await;
        Stores {
            records: self.store,
            vault: self.vault,
        }
        .close()
        .await;
    }
}
