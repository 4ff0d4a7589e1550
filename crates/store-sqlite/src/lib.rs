//! The embedded default backend: one SQLite file under the data dir (DESIGN.md §4).
//!
//! WAL mode with `synchronous=FULL`, so an acknowledged write survives `kill -9` and
//! power loss; `secure_delete` so a destroyed data key is overwritten, not just unlinked.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use medvault_store::{migrations, OpenError, Store, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// `PRAGMA application_id` of every medvault database ("MDVT"), so start-up can tell a
/// medvault database from some other SQLite file.
const APPLICATION_ID: i32 = 0x4D44_5654;

const MIGRATIONS: migrations::Embedded = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "identity",
        include_str!("../migrations/0002_identity.sql"),
    ),
    (3, "audit", include_str!("../migrations/0003_audit.sql")),
    (4, "records", include_str!("../migrations/0004_records.sql")),
    (
        5,
        "practitioner",
        include_str!("../migrations/0005_practitioner.sql"),
    ),
    (6, "mfa", include_str!("../migrations/0006_mfa.sql")),
    (
        7,
        "planner_stats",
        include_str!("../migrations/0007_planner_stats.sql"),
    ),
    (
        8,
        "password_change",
        include_str!("../migrations/0008_password_change.sql"),
    ),
    (9, "outbox", include_str!("../migrations/0009_outbox.sql")),
    (
        10,
        "erasure",
        include_str!("../migrations/0010_erasure.sql"),
    ),
    (
        11,
        "webauthn",
        include_str!("../migrations/0011_webauthn.sql"),
    ),
    (12, "oauth", include_str!("../migrations/0012_oauth.sql")),
    (13, "access", include_str!("../migrations/0013_access.sql")),
    (
        14,
        "oauth_grants",
        include_str!("../migrations/0014_oauth_grants.sql"),
    ),
    (
        15,
        "id_token_keys",
        include_str!("../migrations/0015_id_token_keys.sql"),
    ),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let what = path.display().to_string();
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| OpenError::Backend {
                what: what.clone(),
                source: Box::new(e),
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("secure_delete", "ON")
            // Reads through a memory map skip a copy per page: audit verification scans the chain.
            .pragma("mmap_size", "268435456");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| open_error(&what, e))?;
        claim_or_check_application_id(&pool, &what).await?;
        migrations::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| migrations::open_error(&what, e))?;
        Ok(Self { pool })
    }
}

/// A fresh file is claimed for medvault; a file that already holds tables must be ours.
async fn claim_or_check_application_id(pool: &SqlitePool, what: &str) -> Result<(), OpenError> {
    let id: i32 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(pool)
        .await
        .map_err(|e| open_error(what, e))?;
    if id == APPLICATION_ID {
        return Ok(());
    }
    let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(pool)
        .await
        .map_err(|e| open_error(what, e))?;
    if id != 0 || objects > 0 {
        return Err(OpenError::Foreign(what.to_owned()));
    }
    sqlx::query(&format!("PRAGMA application_id = {APPLICATION_ID}"))
        .execute(pool)
        .await
        .map_err(|e| open_error(what, e))?;
    Ok(())
}

fn open_error(what: &str, err: sqlx::Error) -> OpenError {
    // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26): the file is not a usable database.
    let corrupt = err
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "11" || code == "26");
    if corrupt {
        OpenError::Corrupt(what.to_owned())
    } else {
        OpenError::Backend {
            what: what.to_owned(),
            source: Box::new(err),
        }
    }
}

medvault_store::impl_sql_store!(SqliteStore);

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
