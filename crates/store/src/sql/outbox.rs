//! `OutboxStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_outbox {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::OutboxStore for $store {
            async fn enqueue_outbox(
                &self,
                id: &str,
                payload: &str,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO outbox (id, payload, created_at, attempts, next_attempt_at)
                     VALUES ($1, $2, $3, 0, $3)",
                )
                .bind(id)
                .bind(payload)
                .bind(at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn claim_outbox(
                &self,
                now: medvault_domain::UnixMillis,
                lease_ms: i64,
                limit: u32,
            ) -> Result<Vec<$crate::OutboxMessage>, $crate::StoreError> {
                // The outer conditions repeat the inner ones: PostgreSQL re-checks them on
                // rows another deliverer claimed meanwhile, so no message is claimed twice.
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "UPDATE outbox SET claimed_until = $1
                      WHERE id IN (SELECT id FROM outbox
                                    WHERE delivered_at IS NULL AND next_attempt_at <= $2
                                      AND (claimed_until IS NULL OR claimed_until < $2)
                                    ORDER BY next_attempt_at LIMIT $3)
                        AND delivered_at IS NULL
                        AND (claimed_until IS NULL OR claimed_until < $2)
                      RETURNING id, payload, attempts",
                )
                .bind(now.0.saturating_add(lease_ms))
                .bind(now.0)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, payload, attempts)| {
                        Ok($crate::OutboxMessage {
                            id,
                            payload,
                            attempts: u32::try_from(attempts)
                                .map_err(|_| $crate::sql::rows::corrupt("outbox"))?,
                        })
                    })
                    .collect()
            }

            async fn outbox_delivered(
                &self,
                id: &str,
                at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE outbox SET delivered_at = $1, claimed_until = NULL WHERE id = $2",
                )
                .bind(at.0)
                .bind(id)
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(updated.rows_affected())
            }

            async fn outbox_failed(
                &self,
                id: &str,
                retry_at: medvault_domain::UnixMillis,
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1,
                                       claimed_until = NULL
                      WHERE id = $2",
                )
                .bind(retry_at.0)
                .bind(id)
                .execute(&self.pool)
                .await?;
                $crate::sql::one_row(updated.rows_affected())
            }
        }
    };
}
