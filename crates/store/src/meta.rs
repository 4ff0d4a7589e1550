use medvault_domain::MasterKeyId;

use crate::StoreError;

/// Facts about the database itself.
#[async_trait::async_trait]
pub trait MetaStore {
    /// The id of the master key this database was sealed to; `None` for a fresh database.
    async fn master_key_id(&self) -> Result<Option<MasterKeyId>, StoreError>;

    /// Seals a fresh database to a master key. [`StoreError::Conflict`] when one is
    /// already recorded: a database never silently changes master key.
    async fn init_master_key_id(&self, id: &MasterKeyId) -> Result<(), StoreError>;

    /// Records that the database is now sealed to `new` (the last step of a master-key
    /// rotation). [`StoreError::Conflict`] unless `expected` is the recorded id.
    async fn replace_master_key_id(
        &self,
        expected: &MasterKeyId,
        new: &MasterKeyId,
    ) -> Result<(), StoreError>;
}
