//! `MetaStore` and `DataKeyStore` statements.

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_sql_keys {
    ($store:ty) => {
        #[$crate::sql::__async_trait]
        impl $crate::MetaStore for $store {
            async fn master_key_id(
                &self,
            ) -> Result<Option<medvault_domain::MasterKeyId>, $crate::StoreError> {
                let value: Option<String> = sqlx::query_scalar(
                    "SELECT value FROM medvault_meta WHERE key = 'master_key_id'",
                )
                .fetch_optional(&self.pool)
                .await?;
                value
                    .map(|v| v.parse().map_err(|_| $crate::sql::rows::corrupt("meta")))
                    .transpose()
            }

            async fn init_master_key_id(
                &self,
                id: &medvault_domain::MasterKeyId,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO medvault_meta (key, value) VALUES ('master_key_id', $1)")
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn replace_master_key_id(
                &self,
                expected: &medvault_domain::MasterKeyId,
                new: &medvault_domain::MasterKeyId,
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE medvault_meta SET value = $1 WHERE key = 'master_key_id' AND value = $2",
                )
                .bind(new.as_str())
                .bind(expected.as_str())
                .execute(&self.pool)
                .await?;
                if updated.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::StoreError::Conflict)
                }
            }
        }

        #[$crate::sql::__async_trait]
        impl $crate::DataKeyStore for $store {
            async fn insert_data_key(
                &self,
                key: &medvault_domain::WrappedDataKey,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO data_keys (patient_id, master_key_id, sealed, created_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(key.patient.to_string())
                .bind(key.master_key_id.as_str())
                .bind(&key.sealed)
                .bind($crate::sql::now_millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn data_key(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<medvault_domain::WrappedDataKey, $crate::StoreError> {
                let row: $crate::sql::rows::DataKeyRow = sqlx::query_as(
                    "SELECT patient_id, master_key_id, sealed FROM data_keys WHERE patient_id = $1",
                )
                .bind(patient.to_string())
                .fetch_one(&self.pool)
                .await?;
                $crate::sql::rows::data_key(row)
            }

            async fn rewrap_data_key(
                &self,
                expected: &medvault_domain::MasterKeyId,
                rewrapped: &medvault_domain::WrappedDataKey,
            ) -> Result<(), $crate::StoreError> {
                let updated = sqlx::query(
                    "UPDATE data_keys SET master_key_id = $1, sealed = $2, rewrapped_at = $3
                      WHERE patient_id = $4 AND master_key_id = $5",
                )
                .bind(rewrapped.master_key_id.as_str())
                .bind(&rewrapped.sealed)
                .bind($crate::sql::now_millis())
                .bind(rewrapped.patient.to_string())
                .bind(expected.as_str())
                .execute(&self.pool)
                .await?;
                if updated.rows_affected() == 1 {
                    return Ok(());
                }
                // Nothing matched: either there is no key, or another rotation got there first.
                $crate::DataKeyStore::data_key(self, rewrapped.patient).await?;
                Err($crate::StoreError::Conflict)
            }

            async fn data_keys_wrapped_by(
                &self,
                master: &medvault_domain::MasterKeyId,
                limit: u32,
            ) -> Result<Vec<medvault_domain::WrappedDataKey>, $crate::StoreError> {
                let rows: Vec<$crate::sql::rows::DataKeyRow> = sqlx::query_as(
                    "SELECT patient_id, master_key_id, sealed FROM data_keys
                      WHERE master_key_id = $1 ORDER BY patient_id LIMIT $2",
                )
                .bind(master.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::sql::rows::data_key).collect()
            }

            async fn data_key_slots(
                &self,
                after: Option<medvault_domain::PatientId>,
                limit: u32,
            ) -> Result<Vec<medvault_domain::PatientId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT patient_id FROM data_keys WHERE $1 IS NULL OR patient_id > $1
                      ORDER BY patient_id LIMIT $2",
                )
                .bind(after.map(|p| p.to_string()))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                ids.iter()
                    .map(|id| id.parse().map_err(|_| $crate::sql::rows::corrupt("data key")))
                    .collect()
            }

            async fn destroy_data_key(
                &self,
                patient: medvault_domain::PatientId,
            ) -> Result<(), $crate::StoreError> {
                let deleted = sqlx::query("DELETE FROM data_keys WHERE patient_id = $1")
                    .bind(patient.to_string())
                    .execute(&self.pool)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }
        }
    };
}
