//! Managing accounts: shared by the admin API and the `medvault user` commands.

use std::sync::Arc;

use medvault_crypto::password::Password;
use medvault_domain::{
    DisplayName, Email, FhirId, PatientId, Role, Roles, SessionId, User, UserId, UserStatus,
};
use medvault_store::{Store, StoreError};

use crate::clock::now;
use crate::identity::hashing::HashingPool;
use crate::identity::password_policy::{PasswordPolicy, PasswordRejection};
use crate::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("email is not a valid address")]
    InvalidEmail,
    #[error("display name must be 1 to 200 characters without control characters")]
    InvalidName,
    #[error("unknown role {0:?}; roles are patient, nurse, physician, director, admin, auditor, researcher")]
    UnknownRole(String),
    #[error("a user needs at least one role")]
    NoRoles,
    #[error("{0} is not a valid FHIR id")]
    InvalidFhirId(&'static str),
    #[error("patient_id is not a valid id")]
    InvalidPatientId,
    #[error(transparent)]
    Password(#[from] PasswordRejection),
    #[error("a user with this email, patient_id or practitioner_id already exists")]
    DuplicateEmail,
    #[error("no such user")]
    NotFound,
    #[error("this would leave no active admin; make another admin first")]
    LastAdmin,
    #[error(transparent)]
    Internal(ApiError),
}

impl From<StoreError> for UserError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            other => Self::Internal(other.into()),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::DuplicateEmail | UserError::LastAdmin => ApiError::Conflict {
                detail: err.to_string(),
            },
            UserError::NotFound => ApiError::NotFound,
            UserError::Password(PasswordRejection::CheckUnavailable) => ApiError::Unavailable {
                detail: "the breached-password check is unavailable; try again later",
            },
            UserError::Internal(err) => err,
            other => ApiError::Unprocessable {
                detail: other.to_string(),
            },
        }
    }
}

/// Everything a new account needs, as received (from JSON or the command line).
#[derive(Debug)]
pub struct NewUser {
    pub email: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub password: Option<Password>,
    pub patient_id: Option<String>,
    pub practitioner_id: Option<String>,
    pub organization_id: Option<String>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub display_name: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
    pub status: Option<UserStatus>,
}

fn parse_roles(roles: &[String]) -> Result<Roles, UserError> {
    let parsed = roles
        .iter()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|_| UserError::UnknownRole(r.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Roles::new(parsed).map_err(|_| UserError::NoRoles)
}

fn fhir_id(id: Option<String>, field: &'static str) -> Result<Option<FhirId>, UserError> {
    id.map(|id| id.parse().map_err(|_| UserError::InvalidFhirId(field)))
        .transpose()
}

fn parse_name(name: Option<String>) -> Result<Option<DisplayName>, UserError> {
    name.map(|n| n.parse().map_err(|_| UserError::InvalidName))
        .transpose()
}

/// Validates, applies the password policy, hashes, stores. Returns the user and the audit
/// event the caller records with its own actor.
pub async fn create(
    store: &dyn Store,
    hashing: &HashingPool,
    policy: &PasswordPolicy,
    new: NewUser,
) -> Result<User, UserError> {
    let email: Email = new.email.parse().map_err(|_| UserError::InvalidEmail)?;
    let display_name = parse_name(new.display_name)?;
    let roles = parse_roles(&new.roles)?;
    let patient_id = new
        .patient_id
        .map(|p| {
            p.parse::<PatientId>()
                .map_err(|_| UserError::InvalidPatientId)
        })
        .transpose()?;
    let practitioner_id = fhir_id(new.practitioner_id, "practitioner_id")?;
    let organization_id = fhir_id(new.organization_id, "organization_id")?;
    let hash = match new.password {
        Some(password) => {
            let name = display_name.as_ref().map_or("", DisplayName::as_str);
            policy.check(&password, &[email.as_str(), name])?;
            policy.check_remote(&password).await?;
            Some(
                hashing
                    .hash(Arc::new(password))
                    .await
                    .map_err(UserError::Internal)?,
            )
        }
        None => None,
    };
    let at = now();
    let user = User {
        id: UserId::new(),
        email,
        display_name,
        status: UserStatus::Active,
        roles,
        patient_id,
        practitioner_id,
        organization_id,
        created_at: at,
        updated_at: at,
    };
    match store.insert_user(&user, hash.as_deref()).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict) => Err(UserError::DuplicateEmail),
        Err(err) => Err(err.into()),
    }
}

/// Applies `changes`. Returns the updated user and whether its roles changed.
pub async fn update(
    store: &dyn Store,
    id: UserId,
    changes: UserChanges,
) -> Result<(User, bool), UserError> {
    let mut user = store.user(id).await?;
    let was_admin = is_active_admin(&user);
    if let Some(name) = changes.display_name {
        user.display_name = parse_name(name)?;
    }
    let roles_changed = match changes.roles {
        Some(roles) => {
            let roles = parse_roles(&roles)?;
            let changed = roles != user.roles;
            user.roles = roles;
            changed
        }
        None => false,
    };
    if let Some(status) = changes.status {
        user.status = status;
    }
    if was_admin && !is_active_admin(&user) {
        ensure_another_admin(store).await?;
    }
    user.updated_at = now();
    store.update_user(&user).await?;
    Ok((user, roles_changed))
}

/// Deletes the account after ending its sessions; returns it and the sessions ended, which
/// callers add to their revocation lists (the rows are gone with the user).
pub async fn delete(store: &dyn Store, id: UserId) -> Result<(User, Vec<SessionId>), UserError> {
    let user = store.user(id).await?;
    if is_active_admin(&user) {
        ensure_another_admin(store).await?;
    }
    let ended = store.revoke_sessions_of(id, None, now()).await?;
    store.delete_user(id).await?;
    Ok((user, ended))
}

pub async fn set_password(
    store: &dyn Store,
    hashing: &HashingPool,
    policy: &PasswordPolicy,
    id: UserId,
    password: Password,
) -> Result<(), UserError> {
    let user = store.user(id).await?;
    let name = user.display_name.as_ref().map_or("", DisplayName::as_str);
    policy.check(&password, &[user.email.as_str(), name])?;
    policy.check_remote(&password).await?;
    let hash = hashing
        .hash(Arc::new(password))
        .await
        .map_err(UserError::Internal)?;
    store.set_password_hash(id, &hash, now()).await?;
    store.set_password_change_required(id, false).await?;
    Ok(())
}

fn is_active_admin(user: &User) -> bool {
    user.status == UserStatus::Active && user.roles.contains(Role::Admin)
}

/// Refuses to remove the last way in: someone must be able to administer medvault.
async fn ensure_another_admin(store: &dyn Store) -> Result<(), UserError> {
    if store.count_active_admins().await? <= 1 {
        return Err(UserError::LastAdmin);
    }
    Ok(())
}
