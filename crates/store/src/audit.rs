use medvault_domain::AuditEvent;

use crate::StoreError;

#[async_trait::async_trait]
pub trait AuditStore {
    /// Durable on return. Callers fail closed when this fails (DESIGN.md §2.6).
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<u64, StoreError>;

    /// Events in append order from sequence `from` on, at most `limit`.
    async fn audit_events(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<(u64, AuditEvent)>, StoreError>;
}
