//! One SQL implementation of every store trait, shared by the SQLite and PostgreSQL backends.
//!
//! The schemas keep to types both databases share (TEXT ids, BIGINT Unix milliseconds,
//! BLOB/BYTEA), and the statements to syntax both accept (`$n` parameters, `RETURNING`),
//! so one set of statements serves both. sqlx's pools are distinct types per database, so
//! the implementation is a macro each backend instantiates for its store: the statements
//! live in the macros, and all decoding lives in plain functions in [`rows`].

pub mod rows;

mod access;
mod audit;
mod erasure;
mod identity;
mod keys;
mod mfa;
mod oauth;
mod outbox;
pub mod record_queries;
mod records;
mod webauthn;

#[doc(hidden)]
pub use async_trait::async_trait as __async_trait;

/// Implements every store trait for `$store`, a struct with a sqlx `pool` field.
#[macro_export]
macro_rules! impl_sql_store {
    ($store:ty) => {
        $crate::__impl_sql_access!($store);
        $crate::__impl_sql_keys!($store);
        $crate::__impl_sql_users!($store);
        $crate::__impl_sql_sessions!($store);
        $crate::__impl_sql_signing_keys!($store);
        $crate::__impl_sql_audit!($store);
        $crate::__impl_sql_records!($store);
        $crate::__impl_sql_mfa!($store);
        $crate::__impl_sql_outbox!($store);
        $crate::__impl_sql_erasure!($store);
        $crate::__impl_sql_webauthn!($store);
        $crate::__impl_sql_oauth!($store);
    };
}

/// Wall-clock time for bookkeeping columns the traits do not expose (e.g. `rewrapped_at`).
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// An update or delete of one row by key: zero rows means there was no such row.
pub fn one_row(affected: u64) -> Result<(), crate::StoreError> {
    if affected == 0 {
        Err(crate::StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Why a presented refresh token could not be spent, from its `(session_id, used_at)`.
pub fn unspendable(
    known: Option<(String, Option<i64>)>,
) -> Result<crate::Rotation, crate::StoreError> {
    let Some((session_id, used_at)) = known else {
        return Err(crate::StoreError::NotFound);
    };
    let session_id = session_id
        .parse()
        .map_err(|_| rows::corrupt("refresh token"))?;
    Ok(match used_at {
        Some(_) => crate::Rotation::Reused(session_id),
        None => crate::Rotation::Dead(session_id),
    })
}

pub fn session_ids(ids: Vec<String>) -> Result<Vec<medvault_domain::SessionId>, crate::StoreError> {
    ids.iter()
        .map(|id| id.parse().map_err(|_| rows::corrupt("session")))
        .collect()
}

/// Sequence numbers are u64 in Rust and BIGINT in SQL.
pub fn seq_value(seq: u64) -> Result<i64, crate::StoreError> {
    i64::try_from(seq)
        .map_err(|_| crate::StoreError::Backend("sequence number out of range".into()))
}

/// 16 parameters a row: 500 rows stay under SQLite's 32,766 and PostgreSQL's 65,535 limits.
pub const AUDIT_ROWS_PER_INSERT: usize = 500;
