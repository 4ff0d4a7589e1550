use medvault_domain::{Email, PatientId, Role, User, UserId, UserStatus};

use crate::StoreError;

/// Which users an admin listing shows. Every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub email: Option<Email>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    /// The user linked to this patient's record.
    pub patient: Option<PatientId>,
}

#[async_trait::async_trait]
pub trait UserStore {
    /// [`StoreError::Conflict`] when the email (or linked patient) is taken.
    async fn insert_user(&self, user: &User, password_hash: Option<&str>)
        -> Result<(), StoreError>;

    async fn user(&self, id: UserId) -> Result<User, StoreError>;

    async fn user_by_email(&self, email: &Email) -> Result<User, StoreError>;

    /// The stored PHC string (`$argon2id$…`), if the user has a password.
    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StoreError>;

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        at: medvault_domain::UnixMillis,
    ) -> Result<(), StoreError>;

    /// Marks (or clears) that the user must change their password before anything else.
    async fn set_password_change_required(
        &self,
        id: UserId,
        required: bool,
    ) -> Result<(), StoreError>;

    async fn password_change_required(&self, id: UserId) -> Result<bool, StoreError>;

    /// Replaces name, status, roles, patient link and `updated_at`.
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;

    /// Deletes the user with their sessions and refresh tokens.
    async fn delete_user(&self, id: UserId) -> Result<(), StoreError>;

    /// Users ordered by email, starting after `after`, at most `limit`.
    async fn list_users(
        &self,
        filter: &UserFilter,
        after: Option<&Email>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;

    async fn count_active_admins(&self) -> Result<u64, StoreError>;
}
