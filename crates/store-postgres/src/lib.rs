//! The fleet backend: PostgreSQL shared by many stateless medvault instances (DESIGN.md §4).
//!
//! Migrations take sqlx's advisory lock, so instances starting together migrate once.

#[cfg(feature = "test-support")]
pub mod test_support;

use std::str::FromStr;
use std::time::Duration;

use medvault_store::{migrations, OpenError, Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

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
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| OpenError::Backend {
            what: "the database URL".into(),
            source: Box::new(e),
        })?;
        Self::connect_with(options).await
    }

    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, OpenError> {
        // Name the database without credentials: the URL's password must not reach a log.
        let what = format!(
            "PostgreSQL database {:?} at {}:{}",
            options.get_database().unwrap_or_default(),
            options.get_host(),
            options.get_port()
        );
        // Every statement is written for its indexes, and statements are prepared once per
        // connection: generic plans skip re-planning each execution (about 0.7 ms for a
        // record search, more than running it).
        let options = options.options([("plan_cache_mode", "force_generic_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| OpenError::Unreachable {
                what: what.clone(),
                source: Box::new(e),
            })?;
        migrations::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| migrations::open_error(&what, e))?;
        Ok(Self { pool })
    }
}

medvault_store::impl_sql_store!(PostgresStore);

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
