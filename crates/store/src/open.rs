//! Why a backend could not be opened at start-up. Each message is one clear line for the
//! operator; none includes credentials.

use crate::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0} is corrupt or is not a SQLite database")]
    Corrupt(String),
    #[error("{0} is not a medvault database (it holds other data); point --data-dir or --database-url elsewhere")]
    Foreign(String),
    #[error("{what} was migrated by a newer medvault (schema version {version}); run that version or newer")]
    TooNew { what: String, version: i64 },
    #[error("{what}: applied migration {version} differs from this build's; the database was modified or built by an unrelated medvault")]
    Modified { what: String, version: i64 },
    #[error("{what}: migration {version} left the schema dirty; restore from backup")]
    Dirty { what: String, version: i64 },
    #[error("cannot reach {what}")]
    Unreachable { what: String, source: BoxError },
    #[error("cannot open {what}")]
    Backend { what: String, source: BoxError },
}

#[cfg(feature = "sqlx")]
pub mod migrations {
    //! Migrations are embedded in the binary (no files needed at run time) and applied
    //! with sqlx's migrator, which records a checksum per migration.

    use std::borrow::Cow;

    use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

    use super::OpenError;

    /// `(version, description, sql)` for each migration, oldest first.
    pub type Embedded = &'static [(i64, &'static str, &'static str)];

    pub fn migrator(embedded: Embedded) -> Migrator {
        let migrations = embedded
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect::<Vec<_>>();
        Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        }
    }

    pub fn open_error(what: &str, err: MigrateError) -> OpenError {
        let what = what.to_owned();
        match err {
            MigrateError::VersionMissing(version) => OpenError::TooNew { what, version },
            MigrateError::VersionMismatch(version) => OpenError::Modified { what, version },
            MigrateError::Dirty(version) => OpenError::Dirty { what, version },
            other => OpenError::Backend {
                what,
                source: Box::new(other),
            },
        }
    }
}
