//! Revoked sessions, checked on every authenticated request without touching the database.
//!
//! The store is the source of truth: logouts in this process are added at once, and a
//! background refresh picks up revocations made elsewhere (the CLI, other instances).
//! An entry is needed only while a token of that session could still be unexpired.

use std::collections::HashMap;
use std::sync::RwLock;

use medvault_domain::{SessionId, UnixMillis};
use medvault_store::{Store, StoreError};

#[derive(Debug)]
pub struct RevokedSessions {
    revoked: RwLock<HashMap<SessionId, UnixMillis>>,
    /// How long a revocation matters: the longest token lifetime plus clock skew.
    horizon_secs: i64,
}

impl RevokedSessions {
    pub fn new(horizon_secs: i64) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            horizon_secs,
        }
    }

    pub fn is_revoked(&self, session: SessionId) -> bool {
        self.revoked
            .read()
            .expect("revocation lock poisoned")
            .contains_key(&session)
    }

    pub fn insert(&self, session: SessionId, at: UnixMillis) {
        self.revoked
            .write()
            .expect("revocation lock poisoned")
            .insert(session, at);
    }

    /// Loads revocations from the store and forgets those past the horizon.
    pub async fn refresh(&self, store: &dyn Store, now: UnixMillis) -> Result<(), StoreError> {
        let since = now.plus_secs(-self.horizon_secs);
        let recent = store.sessions_revoked_since(since).await?;
        let mut revoked = self.revoked.write().expect("revocation lock poisoned");
        revoked.retain(|_, at| *at >= since);
        for session in recent {
            revoked.entry(session).or_insert(now);
        }
        Ok(())
    }
}
