//! The mfa context: TOTP (RFC 6238) and recovery codes as second factors, sign-in that
//! waits for a second factor, MFA required by role, and step-up for sensitive operations
//! (RFC 9470). WebAuthn arrives as a further factor.

pub mod api;
pub mod factors;
pub mod signin;
pub mod step_up;

use medvault_domain::{Role, UserId};
use medvault_store::{Store, StoreError};

/// A sign-in waits at most this long for its second factor.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// A sign-in challenge dies after this many wrong codes.
pub const MAX_FAILURES: u32 = 5;
pub const RECOVERY_CODES: usize = 10;

/// RFC 8176 method values.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_OTP: &str = "otp";
pub const AMR_MFA: &str = "mfa";
/// `acr` values: a password alone, or with a second factor.
pub const ACR_PASSWORD: &str = "urn:medvault:acr:pwd";
pub const ACR_MFA: &str = "urn:medvault:acr:mfa";

#[derive(Debug, Clone)]
pub struct MfaPolicy {
    /// Roles whose users must use a second factor; until enrolled, their tokens can only
    /// enroll one.
    pub required_roles: Vec<Role>,
    /// Sensitive operations need a second factor verified this recently.
    pub step_up_secs: i64,
}

impl MfaPolicy {
    pub fn requires(&self, roles: impl IntoIterator<Item = Role>) -> bool {
        roles.into_iter().any(|r| self.required_roles.contains(&r))
    }
}

/// Whether the user has a confirmed second factor.
pub async fn enrolled(store: &dyn Store, user: UserId) -> Result<bool, StoreError> {
    Ok(store
        .totp(user)
        .await?
        .is_some_and(|t| t.confirmed_at.is_some()))
}
