//! `medvault user …` and `medvault keys rotate`: account and key administration at the
//! command line, for the first admin and for operators.

use std::io::Read;

use medvault_crypto::password::Password;
use medvault_crypto::MasterKey;
use medvault_domain::{AuditAction, Email, UserStatus};
use medvault_store::{Store, UserFilter};
use zeroize::Zeroizing;

use crate::audit::{self, AuditTrail};
use crate::identity::config::PasswordSettings;
use crate::identity::hashing::HashingPool;
use crate::identity::password_policy::PasswordPolicy;
use crate::identity::signing;
use crate::identity::users::{self, NewUser, UserChanges, UserError};

type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Reads a password from standard input, without its final line break.
pub fn password_from_stdin() -> std::io::Result<Password> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut text)?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Password::new(trimmed.to_owned()))
}

fn tools(
    settings: PasswordSettings,
    data_dir: &std::path::Path,
) -> Result<(HashingPool, PasswordPolicy), UserError> {
    let internal = |e: Box<dyn std::error::Error + Send + Sync>| {
        UserError::Internal(crate::ApiError::Internal(e))
    };
    let hashing = HashingPool::new(settings.hash).map_err(|e| internal(e.into()))?;
    let remote = settings
        .breach_api
        .map(crate::protect::breach_api::BreachApi::new)
        .transpose()
        .map_err(|e| internal(e.into()))?;
    let policy = PasswordPolicy::load(settings.min_score, data_dir, remote)
        .map_err(|e| internal(e.into()))?;
    Ok((hashing, policy))
}

pub async fn add(
    store: &dyn Store,
    trail: &AuditTrail,
    settings: PasswordSettings,
    data_dir: &std::path::Path,
    new: NewUser,
) -> CliResult {
    let (hashing, policy) = tools(settings, data_dir)?;
    let has_password = new.password.is_some();
    let user = users::create(store, &hashing, &policy, new).await?;
    audit::record(
        trail,
        audit::system_event(AuditAction::UserCreate, Some(user_resource(&user.id))),
    )
    .await?;
    let roles: Vec<_> = user.roles.iter().map(|r| r.as_str()).collect();
    println!(
        "created user {} <{}> with roles {}",
        user.id,
        user.email,
        roles.join(", ")
    );
    if !has_password {
        println!(
            "no password set: run `medvault user set-password --email {} --password-stdin`",
            user.email
        );
    }
    Ok(())
}

pub async fn list(store: &dyn Store) -> CliResult {
    let mut after: Option<Email> = None;
    println!("{:<36}  {:<8}  {:<24}  email", "id", "status", "roles");
    loop {
        let page = store
            .list_users(&UserFilter::default(), after.as_ref(), 200)
            .await?;
        for user in &page {
            println!(
                "{:<36}  {:<8}  {:<24}  {}",
                user.id,
                user.status.as_str(),
                user.roles.to_space_separated(),
                user.email
            );
        }
        match page.last() {
            Some(last) if page.len() == 200 => after = Some(last.email.clone()),
            _ => return Ok(()),
        }
    }
}

pub async fn disable(store: &dyn Store, trail: &AuditTrail, email: &str) -> CliResult {
    let user = find(store, email).await?;
    let changes = UserChanges {
        status: Some(UserStatus::Disabled),
        ..UserChanges::default()
    };
    users::update(store, user.id, changes).await?;
    // Running servers pick the revocations up within seconds (`Identity::sync`).
    let ended = store
        .revoke_sessions_of(user.id, None, crate::clock::now())
        .await?;
    audit::record(
        trail,
        audit::system_event(AuditAction::UserUpdate, Some(user_resource(&user.id))),
    )
    .await?;
    println!(
        "disabled {} and ended {} session(s)",
        user.email,
        ended.len()
    );
    Ok(())
}

pub async fn set_password(
    store: &dyn Store,
    trail: &AuditTrail,
    settings: PasswordSettings,
    data_dir: &std::path::Path,
    email: &str,
    password: Password,
) -> CliResult {
    let (hashing, policy) = tools(settings, data_dir)?;
    let user = find(store, email).await?;
    users::set_password(store, &hashing, &policy, user.id, password).await?;
    audit::record(
        trail,
        audit::system_event(
            AuditAction::UserPasswordChange,
            Some(user_resource(&user.id)),
        ),
    )
    .await?;
    println!("password updated for {}", user.email);
    Ok(())
}

pub async fn rotate_keys(store: &dyn Store, trail: &AuditTrail, master: &MasterKey) -> CliResult {
    let kid = signing::rotate(store, master, crate::clock::now()).await?;
    let resource = medvault_domain::AuditedResource {
        kind: "SigningKey".into(),
        id: kid.clone(),
    };
    audit::record(
        trail,
        audit::system_event(AuditAction::KeysRotate, Some(resource)),
    )
    .await?;
    println!(
        "key {kid} now signs new tokens; the previous key stays published until its tokens expire"
    );
    Ok(())
}

async fn find(store: &dyn Store, email: &str) -> Result<medvault_domain::User, UserError> {
    let email: Email = email.parse().map_err(|_| UserError::InvalidEmail)?;
    Ok(store.user_by_email(&email).await?)
}

fn user_resource(id: &medvault_domain::UserId) -> medvault_domain::AuditedResource {
    medvault_domain::AuditedResource {
        kind: "User".into(),
        id: id.to_string(),
    }
}
