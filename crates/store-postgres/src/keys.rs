use medvault_domain::{MasterKeyId, PatientId, WrappedDataKey};
use medvault_store::{DataKeyStore, StoreError};
use uuid::Uuid;

use crate::PostgresStore;

type Row = (Uuid, String, Vec<u8>);

fn decode((patient, master_key_id, sealed): Row) -> Result<WrappedDataKey, StoreError> {
    Ok(WrappedDataKey {
        patient: PatientId::from(patient),
        master_key_id: master_key_id
            .parse()
            .map_err(|e| StoreError::Backend(Box::new(e)))?,
        sealed,
    })
}

#[async_trait::async_trait]
impl DataKeyStore for PostgresStore {
    async fn insert_data_key(&self, key: &WrappedDataKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO data_keys (patient_id, master_key_id, sealed) VALUES ($1, $2, $3)",
        )
        .bind(key.patient.as_uuid())
        .bind(key.master_key_id.as_str())
        .bind(&key.sealed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn data_key(&self, patient: PatientId) -> Result<WrappedDataKey, StoreError> {
        let row: Row = sqlx::query_as(
            "SELECT patient_id, master_key_id, sealed FROM data_keys WHERE patient_id = $1",
        )
        .bind(patient.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        decode(row)
    }

    async fn rewrap_data_key(
        &self,
        expected: &MasterKeyId,
        rewrapped: &WrappedDataKey,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE data_keys SET master_key_id = $1, sealed = $2, rewrapped_at = now()
              WHERE patient_id = $3 AND master_key_id = $4",
        )
        .bind(rewrapped.master_key_id.as_str())
        .bind(&rewrapped.sealed)
        .bind(rewrapped.patient.as_uuid())
        .bind(expected.as_str())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 1 {
            return Ok(());
        }
        // Nothing matched: either there is no key, or another rotation got there first.
        self.data_key(rewrapped.patient).await?;
        Err(StoreError::Conflict)
    }

    async fn data_keys_wrapped_by(
        &self,
        master: &MasterKeyId,
        limit: u32,
    ) -> Result<Vec<WrappedDataKey>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT patient_id, master_key_id, sealed FROM data_keys
              WHERE master_key_id = $1 ORDER BY patient_id LIMIT $2",
        )
        .bind(master.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(decode).collect()
    }

    async fn destroy_data_key(&self, patient: PatientId) -> Result<(), StoreError> {
        // Dead tuples linger until VACUUM; docs/architecture.md says how erasure covers them.
        let deleted = sqlx::query("DELETE FROM data_keys WHERE patient_id = $1")
            .bind(patient.as_uuid())
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
