//! `AuditStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_audit {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::AuditStore for $store {
            async fn append_audit_events(
                &self,
                events: &[medvault_domain::AuditEvent],
                hasher: $crate::ChainHasher,
            ) -> Result<Vec<u64>, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                // Writing the head first takes PostgreSQL's row lock and SQLite's write lock,
                // so appenders in every instance take turns.
                let (last_seq, last_hash): (i64, Vec<u8>) = sqlx::query_as(
                    "UPDATE audit_head SET last_seq = last_seq WHERE id = 1 RETURNING last_seq, last_hash",
                )
                .fetch_one(&mut *tx)
                .await?;
                let mut prev = $crate::sql::rows::hash(last_hash, "audit head")?;
                let mut seq = u64::try_from(last_seq).map_err(|_| $crate::sql::rows::corrupt("audit head"))?;
                let mut seqs = Vec::with_capacity(events.len());
                let mut rows = Vec::with_capacity(events.len());
                for event in events {
                    seq += 1;
                    let columns = $crate::sql::rows::audit_columns(event);
                    let hash = hasher(seq, &prev, $crate::sql::rows::audit_canonical(&columns).as_bytes());
                    rows.push(($crate::sql::seq_value(seq)?, prev, hash, columns));
                    prev = hash;
                    seqs.push(seq);
                }
                // Multi-row inserts: one statement per chunk, not one per event.
                for chunk in rows.chunks($crate::sql::AUDIT_ROWS_PER_INSERT) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO audit_events (seq, prev_hash, hash, at, actor_kind, actor_id,
                             actor_roles, action, outcome, resource_kind, resource_id, patient_id,
                             purpose, session_id, source_ip, request_id, policy) ",
                    );
                    insert.push_values(chunk, |mut row, (seq, prev, hash, c)| {
                        row.push_bind(*seq)
                            .push_bind(prev.to_vec())
                            .push_bind(hash.to_vec())
                            .push_bind(c.at)
                            .push_bind(c.actor_kind)
                            .push_bind(c.actor_id.clone())
                            .push_bind(c.actor_roles.clone())
                            .push_bind(c.action)
                            .push_bind(c.outcome)
                            .push_bind(c.resource_kind.clone())
                            .push_bind(c.resource_id.clone())
                            .push_bind(c.patient_id.clone())
                            .push_bind(c.purpose)
                            .push_bind(c.session_id.clone())
                            .push_bind(c.source_ip.clone())
                            .push_bind(c.request_id.clone())
                            .push_bind(c.policy.clone());
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1")
                    .bind($crate::sql::seq_value(seq)?)
                    .bind(&prev[..])
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(seqs)
            }

            async fn audit_entries(
                &self,
                from: u64,
                limit: u32,
            ) -> Result<Vec<$crate::ChainedEntry>, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    $crate::sql::rows::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::sql::rows::AuditRow> = sqlx::query_as(&sql)
                    .bind(i64::try_from(from).unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::rows::audit_entry).collect()
            }

            async fn search_audit_entries(
                &self,
                filter: &$crate::AuditFilter,
                after: u64,
                limit: u32,
            ) -> Result<Vec<$crate::ChainedEntry>, $crate::StoreError> {
                let mut query = sqlx::QueryBuilder::new(format!(
                    "SELECT {} FROM audit_events WHERE seq > ",
                    $crate::sql::rows::AUDIT_COLUMNS
                ));
                query.push_bind($crate::sql::seq_value(after)?);
                if let Some(patient) = &filter.patient {
                    query.push(" AND patient_id = ").push_bind(patient.clone());
                }
                if let Some(agent) = &filter.agent {
                    query.push(" AND actor_id = ").push_bind(agent.clone());
                }
                if !filter.actions.is_empty() {
                    query.push(" AND action IN (");
                    let mut separated = query.separated(", ");
                    for action in &filter.actions {
                        separated.push_bind(*action);
                    }
                    query.push(")");
                }
                if let Some(outcome) = filter.outcome {
                    query.push(" AND outcome = ").push_bind(outcome);
                }
                if let Some(since) = filter.since {
                    query.push(" AND at >= ").push_bind(since.0);
                }
                if let Some(until) = filter.until {
                    query.push(" AND at <= ").push_bind(until.0);
                }
                query.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
                let rows: Vec<$crate::sql::rows::AuditRow> =
                    query.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::sql::rows::audit_entry).collect()
            }

            async fn audit_links(
                &self,
                from: u64,
                limit: u32,
            ) -> Result<Vec<$crate::AuditLink>, $crate::StoreError> {
                let sql = format!(
                    "SELECT seq, prev_hash, hash, {} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    $crate::sql::rows::AUDIT_CANONICAL_SQL
                );
                let rows: Vec<$crate::sql::rows::AuditLinkRow> = sqlx::query_as(&sql)
                    .bind(i64::try_from(from).unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::rows::audit_link).collect()
            }

            async fn prune_audit_entries(&self, through: u64) -> Result<u64, $crate::StoreError> {
                let through = $crate::sql::seq_value(through)?;
                let mut tx = self.pool.begin().await?;
                let anchored: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_checkpoints WHERE seq = $1")
                    .bind(through)
                    .fetch_optional(&mut *tx)
                    .await?;
                if anchored.is_none() {
                    tx.rollback().await?;
                    return Err($crate::StoreError::NotFound);
                }
                let deleted = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                    .bind(through)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM audit_checkpoints WHERE seq < $1")
                    .bind(through)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(deleted.rows_affected())
            }

            async fn audit_head(&self) -> Result<(u64, [u8; 32]), $crate::StoreError> {
                let (seq, hash): (i64, Vec<u8>) =
                    sqlx::query_as("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?;
                let seq = u64::try_from(seq).map_err(|_| $crate::sql::rows::corrupt("audit head"))?;
                Ok((seq, $crate::sql::rows::hash(hash, "audit head")?))
            }

            async fn insert_audit_checkpoint(
                &self,
                checkpoint: &$crate::AuditCheckpoint,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO audit_checkpoints (seq, head_hash, at, key_id, signature)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind($crate::sql::seq_value(checkpoint.seq)?)
                .bind(&checkpoint.head_hash[..])
                .bind(checkpoint.at.0)
                .bind(&checkpoint.key_id)
                .bind(&checkpoint.signature)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn audit_checkpoints(
                &self,
            ) -> Result<Vec<$crate::AuditCheckpoint>, $crate::StoreError> {
                let sql = format!(
                    "SELECT {} FROM audit_checkpoints ORDER BY seq",
                    $crate::sql::rows::CHECKPOINT_COLUMNS
                );
                let rows: Vec<$crate::sql::rows::CheckpointRow> =
                    sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::sql::rows::checkpoint).collect()
            }

            async fn insert_audit_key(
                &self,
                key: &$crate::AuditKeyRecord,
            ) -> Result<(), $crate::StoreError> {
                // The table holds one row (id = 1): a second key is a conflict.
                sqlx::query(
                    "INSERT INTO audit_keys (id, key_id, sealed_private, public_key, created_at)
                     VALUES (1, $1, $2, $3, $4)",
                )
                .bind(&key.key_id)
                .bind(&key.sealed_private)
                .bind(&key.public_key)
                .bind(key.created_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn reseal_audit_key(&self, sealed_private: &[u8]) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query("UPDATE audit_keys SET sealed_private = $1 WHERE id = 1")
                    .bind(sealed_private)
                    .execute(&self.pool)
                    .await?;
                $crate::sql::one_row(updated.rows_affected())
            }

            async fn audit_key(&self) -> Result<Option<$crate::AuditKeyRecord>, $crate::StoreError> {
                let row: Option<(String, Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
                    "SELECT key_id, sealed_private, public_key, created_at FROM audit_keys WHERE id = 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(key_id, sealed_private, public_key, created_at)| $crate::AuditKeyRecord {
                    key_id,
                    sealed_private,
                    public_key,
                    created_at: medvault_domain::UnixMillis(created_at),
                }))
            }
        }
    };
}
