//! `AuditStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_audit {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::AuditStore for $store {
            async fn append_audit_event(
                &self,
                event: &medvault_domain::AuditEvent,
            ) -> Result<u64, $crate::StoreError> {
                let c = $crate::sql::rows::audit_columns(event);
                let seq: i64 = sqlx::query_scalar(
                    "INSERT INTO audit_events (at, actor_kind, actor_id, actor_roles, action, outcome,
                         resource_kind, resource_id, patient_id, purpose, session_id, source_ip,
                         request_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     RETURNING seq",
                )
                .bind(c.at)
                .bind(c.actor_kind)
                .bind(c.actor_id)
                .bind(c.actor_roles)
                .bind(c.action)
                .bind(c.outcome)
                .bind(c.resource_kind)
                .bind(c.resource_id)
                .bind(c.patient_id)
                .bind(c.purpose)
                .bind(c.session_id)
                .bind(c.source_ip)
                .bind(c.request_id)
                .fetch_one(&self.pool)
                .await?;
                u64::try_from(seq).map_err(|_| $crate::sql::rows::corrupt("audit"))
            }

            async fn audit_events(
                &self,
                from: u64,
                limit: u32,
            ) -> Result<Vec<(u64, medvault_domain::AuditEvent)>, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    $crate::sql::rows::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::sql::rows::AuditRow> = sqlx::query_as(&sql)
                    .bind(i64::try_from(from).unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::rows::audit_event).collect()
            }
        }
    };
}
