use medvault_domain::MasterKeyId;
use medvault_store::{MetaStore, StoreError};

use crate::SqliteStore;

const MASTER_KEY_ID: &str = "master_key_id";

#[async_trait::async_trait]
impl MetaStore for SqliteStore {
    async fn master_key_id(&self) -> Result<Option<MasterKeyId>, StoreError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM medvault_meta WHERE key = ?")
                .bind(MASTER_KEY_ID)
                .fetch_optional(&self.pool)
                .await?;
        value
            .map(|v| v.parse().map_err(|e| StoreError::Backend(Box::new(e))))
            .transpose()
    }

    async fn init_master_key_id(&self, id: &MasterKeyId) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO medvault_meta (key, value) VALUES (?, ?)")
            .bind(MASTER_KEY_ID)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
