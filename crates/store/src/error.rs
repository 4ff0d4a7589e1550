pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in storage. Callers branch on the kind; the source is for logs only,
/// never for a client, since backend messages can quote stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or an expected-version check failed: the write was not applied.
    #[error("conflicts with the stored state")]
    Conflict,
    /// The database could not be reached in time; retrying later may succeed.
    #[error("storage is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("storage backend failed")]
    Backend(#[source] BoxError),
}

#[cfg(feature = "sqlx")]
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(Box::new(err))
            }
            other => Self::Backend(Box::new(other)),
        }
    }
}
