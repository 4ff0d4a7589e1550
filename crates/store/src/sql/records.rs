//! `RecordStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_records {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::RecordStore for $store {
            async fn write_record_batches(
                &self,
                batches: &[$crate::RecordBatch],
            ) -> Result<Vec<Result<(), $crate::StoreError>>, $crate::StoreError> {
                use sqlx::Acquire as _;
                let mut tx = self.pool.begin().await?;
                let mut outcomes = Vec::with_capacity(batches.len());
                for batch in batches {
                    let mut savepoint = tx.begin().await?;
                    let written: Result<(), $crate::StoreError> =
                        $crate::__sql_write_batch!(&mut *savepoint, batch);
                    match written {
                        Ok(()) => {
                            savepoint.commit().await?;
                            outcomes.push(Ok(()));
                        }
                        // A rule of this batch failed: undo it alone, keep the others.
                        Err(err @ ($crate::StoreError::Conflict | $crate::StoreError::NotFound)) => {
                            savepoint.rollback().await?;
                            outcomes.push(Err(err));
                        }
                        Err(err) => return Err(err),
                    }
                }
                tx.commit().await?;
                Ok(outcomes)
            }

            async fn record(
                &self,
                resource_type: medvault_domain::ResourceType,
                id: &medvault_domain::FhirId,
                version: Option<u64>,
            ) -> Result<$crate::RecordVersion, $crate::StoreError> {
                use $crate::sql::record_queries::{key, version_value, RECORD_COLUMNS};
                let (resource_type, id) = key(resource_type, id);
                let row: $crate::sql::record_queries::RecordRow = match version {
                    None => {
                        let sql = format!(
                            "SELECT {RECORD_COLUMNS} FROM fhir_resources r JOIN fhir_versions v
                               ON v.resource_type = r.resource_type AND v.id = r.id
                              AND v.version = r.version
                             WHERE r.resource_type = $1 AND r.id = $2"
                        );
                        sqlx::query_as(&sql)
                            .bind(resource_type)
                            .bind(id)
                            .fetch_one(&self.pool)
                            .await?
                    }
                    Some(version) => {
                        let sql = format!(
                            "SELECT {RECORD_COLUMNS} FROM fhir_versions v
                             WHERE v.resource_type = $1 AND v.id = $2 AND v.version = $3"
                        );
                        sqlx::query_as(&sql)
                            .bind(resource_type)
                            .bind(id)
                            .bind(version_value(version)?)
                            .fetch_one(&self.pool)
                            .await?
                    }
                };
                $crate::sql::record_queries::record(row)
            }

            async fn find_records(
                &self,
                query: &$crate::RecordQuery,
            ) -> Result<Vec<$crate::RecordVersion>, $crate::StoreError> {
                let statement = $crate::sql::record_queries::find(query);
                $crate::__sql_fetch_records!(self, statement)
            }

            async fn compartment_versions(
                &self,
                compartment: medvault_domain::Compartment,
                after: Option<&(medvault_domain::ResourceType, medvault_domain::FhirId, u64)>,
                limit: u32,
            ) -> Result<Vec<$crate::RecordVersion>, $crate::StoreError> {
                let statement =
                    $crate::sql::record_queries::compartment_versions(compartment, after, limit)?;
                $crate::__sql_fetch_records!(self, statement)
            }

            async fn record_history(
                &self,
                query: &$crate::HistoryQuery,
            ) -> Result<Vec<$crate::RecordVersion>, $crate::StoreError> {
                let statement = $crate::sql::record_queries::history(query)?;
                $crate::__sql_fetch_records!(self, statement)
            }
        }
    };
}

/// Runs a built [`Statement`](crate::sql::record_queries::Statement) and decodes its records.
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_fetch_records {
    ($self:ident, $statement:ident) => {{
        use $crate::sql::record_queries::Bind;
        let mut query =
            sqlx::query_as::<_, $crate::sql::record_queries::RecordRow>(&$statement.sql);
        for value in $statement.binds {
            query = match value {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
                Bind::Blob(blob) => query.bind(blob),
            };
        }
        let rows = query.fetch_all(&$self.pool).await?;
        rows.into_iter()
            .map($crate::sql::record_queries::record)
            .collect()
    }};
}

/// The statements of one [`RecordBatch`](crate::RecordBatch), on an open transaction.
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_write_batch {
    ($conn:expr, $batch:expr) => {{
        async {
            use $crate::sql::record_queries::{key, version_value};
            // Every statement writes, so the transaction takes the write lock at once
            // and never fails on a stale read snapshot.
            for wrapped in &$batch.new_keys {
                sqlx::query(
                    "INSERT INTO data_keys (patient_id, master_key_id, sealed, created_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(wrapped.patient.to_string())
                .bind(wrapped.master_key_id.as_str())
                .bind(&wrapped.sealed)
                .bind($crate::sql::now_millis())
                .execute($conn)
                .await?;
            }
            for write in &$batch.writes {
                let r = &write.record;
                let (resource_type, id) = key(r.resource_type, &r.id);
                let version = version_value(r.version)?;
                let slot = r.compartment.key_slot().to_string();
                let deleted = i64::from(r.deleted);
                match write.expected_version {
                    None => {
                        sqlx::query(
                            "INSERT INTO fhir_resources
                               (resource_type, id, version, last_updated, patient_id, deleted)
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(&resource_type)
                        .bind(&id)
                        .bind(version)
                        .bind(r.last_updated.0)
                        .bind(&slot)
                        .bind(deleted)
                        .execute($conn)
                        .await?;
                    }
                    Some(expected) => {
                        let updated = sqlx::query(
                            "UPDATE fhir_resources
                                SET version = $1, last_updated = $2, patient_id = $3, deleted = $4
                              WHERE resource_type = $5 AND id = $6 AND version = $7",
                        )
                        .bind(version)
                        .bind(r.last_updated.0)
                        .bind(&slot)
                        .bind(deleted)
                        .bind(&resource_type)
                        .bind(&id)
                        .bind(version_value(expected)?)
                        .execute($conn)
                        .await?;
                        if updated.rows_affected() != 1 {
                            return Err($crate::StoreError::Conflict);
                        }
                    }
                }
                sqlx::query(
                    "INSERT INTO fhir_versions
                       (resource_type, id, version, last_updated, patient_id, deleted, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&resource_type)
                .bind(&id)
                .bind(version)
                .bind(r.last_updated.0)
                .bind(&slot)
                .bind(deleted)
                .bind(&r.sealed)
                .execute($conn)
                .await?;
                sqlx::query("DELETE FROM fhir_tokens WHERE resource_type = $1 AND id = $2")
                    .bind(&resource_type)
                    .bind(&id)
                    .execute($conn)
                    .await?;
                let mut tokens: Vec<&Vec<u8>> = write.tokens.iter().collect();
                tokens.sort();
                tokens.dedup();
                for token in tokens {
                    sqlx::query(
                        "INSERT INTO fhir_tokens (resource_type, token, id) VALUES ($1, $2, $3)",
                    )
                    .bind(&resource_type)
                    .bind(token)
                    .bind(&id)
                    .execute($conn)
                    .await?;
                }
            }
            for patient in &$batch.access_changed {
                $crate::__sql_bump_access_epoch!($conn, patient);
            }
            Ok(())
        }
        .await
    }};
}
