//! `OutboxStore`: notifications waiting to be delivered (security-event webhooks). Stored
//! first, delivered after, retried until delivered: an event is never lost to an outage of
//! the receiver, and a fleet delivers each once at a time (claims are leases).

use medvault_domain::UnixMillis;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    /// The JSON body to deliver (ids and codes only, never PHI).
    pub payload: String,
    pub attempts: u32,
}

#[async_trait::async_trait]
pub trait OutboxStore {
    async fn enqueue_outbox(
        &self,
        id: &str,
        payload: &str,
        at: UnixMillis,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` undelivered messages that are due at `now` and not claimed by
    /// another deliverer, for `lease_ms`.
    async fn claim_outbox(
        &self,
        now: UnixMillis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError>;

    async fn outbox_delivered(&self, id: &str, at: UnixMillis) -> Result<(), StoreError>;

    /// Records a failed attempt; the message is due again at `retry_at`.
    async fn outbox_failed(&self, id: &str, retry_at: UnixMillis) -> Result<(), StoreError>;
}
