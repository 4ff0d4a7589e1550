use medvault_domain::{MasterKeyId, PatientId, WrappedDataKey};
use medvault_store::{DataKeyStore, StoreError};

use crate::SqliteStore;

type Row = (String, String, Vec<u8>);

fn decode((patient, master_key_id, sealed): Row) -> Result<WrappedDataKey, StoreError> {
    Ok(WrappedDataKey {
        patient: patient
            .parse()
            .map_err(|e| StoreError::Backend(Box::new(e)))?,
        master_key_id: master_key_id
            .parse()
            .map_err(|e| StoreError::Backend(Box::new(e)))?,
        sealed,
    })
}

#[async_trait::async_trait]
impl DataKeyStore for SqliteStore {
    async fn insert_data_key(&self, key: &WrappedDataKey) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO data_keys (patient_id, master_key_id, sealed) VALUES (?, ?, ?)")
            .bind(key.patient.to_string())
            .bind(key.master_key_id.as_str())
            .bind(&key.sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn data_key(&self, patient: PatientId) -> Result<WrappedDataKey, StoreError> {
        let row: Row = sqlx::query_as(
            "SELECT patient_id, master_key_id, sealed FROM data_keys WHERE patient_id = ?",
        )
        .bind(patient.to_string())
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
            "UPDATE data_keys
                SET master_key_id = ?, sealed = ?,
                    rewrapped_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
              WHERE patient_id = ? AND master_key_id = ?",
        )
        .bind(rewrapped.master_key_id.as_str())
        .bind(&rewrapped.sealed)
        .bind(rewrapped.patient.to_string())
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
              WHERE master_key_id = ? ORDER BY patient_id LIMIT ?",
        )
        .bind(master.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(decode).collect()
    }

    async fn destroy_data_key(&self, patient: PatientId) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM data_keys WHERE patient_id = ?")
            .bind(patient.to_string())
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
