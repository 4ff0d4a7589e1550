//! A throwaway schema per test, so test runs sharing one PostgreSQL never collide.

use medvault_domain::PatientId;
use sqlx::{Connection, PgConnection};

/// Where tests find PostgreSQL. `.ci/run` always sets it.
pub const TEST_DATABASE_URL: &str = "MEDVAULT_TEST_DATABASE_URL";

/// A schema created for one test, dropped by [`ScratchSchema::drop_schema`].
#[derive(Debug)]
pub struct ScratchSchema {
    base_url: String,
    pub name: String,
}

impl ScratchSchema {
    /// `None`, after saying so on stderr, when no test database is configured. Under CI a
    /// missing database is an error, never a silent skip.
    pub async fn create() -> Option<Self> {
        let Ok(base_url) = std::env::var(TEST_DATABASE_URL) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{TEST_DATABASE_URL} must be set under CI: PostgreSQL tests may not be skipped"
            );
            eprintln!("skipped: PostgreSQL test ({TEST_DATABASE_URL} is not set)");
            return None;
        };
        // A fresh random id makes a unique, valid identifier.
        let name = format!("mv_test_{}", PatientId::new().to_string().replace('-', ""));
        let mut conn = PgConnection::connect(&base_url)
            .await
            .expect("connect to test database");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.expect("close");
        Some(Self { base_url, name })
    }

    /// The test database URL with this schema as the only `search_path`.
    pub fn url(&self) -> String {
        let separator = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }

    pub async fn drop_schema(self) {
        let mut conn = PgConnection::connect(&self.base_url)
            .await
            .expect("connect to test database");
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&mut conn)
            .await
            .expect("drop schema");
        conn.close().await.expect("close");
    }
}
