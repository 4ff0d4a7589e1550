//! The mfa context: TOTP (RFC 6238), passkeys (WebAuthn) and recovery codes as second
//! factors, sign-in that waits for a second factor, passwordless sign-in with a passkey,
//! MFA required by role, and step-up for sensitive operations (RFC 9470).

pub mod api;
pub mod factors;
pub mod signin;
pub mod step_up;
pub mod webauthn;
mod webauthn_api;

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
pub const AMR_HARDWARE_KEY: &str = "hwk";
pub const AMR_SOFTWARE_KEY: &str = "swk";
/// User presence and verification (the biometric or PIN of a passkey).
pub const AMR_USER: &str = "user";
/// `acr` values: a password alone, or with a second factor.
pub const ACR_PASSWORD: &str = "urn:medvault:acr:pwd";
pub const ACR_MFA: &str = "urn:medvault:acr:mfa";

/// The `acr` of a session: whether a second factor was used in it.
pub fn acr(session: &medvault_domain::Session) -> &'static str {
    if session.amr.iter().any(|m| m == AMR_MFA) {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

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
    Ok(Methods::of(store, user).await?.any())
}

/// Which second factors a user has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Methods {
    pub totp: bool,
    pub passkeys: usize,
}

impl Methods {
    pub async fn of(store: &dyn Store, user: UserId) -> Result<Self, StoreError> {
        Ok(Self {
            totp: store
                .totp(user)
                .await?
                .is_some_and(|t| t.confirmed_at.is_some()),
            passkeys: store.webauthn_credentials(user).await?.len(),
        })
    }

    pub fn any(self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// What a sign-in waiting for a second factor may use.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.totp {
            names.push("totp");
        }
        if self.passkeys > 0 {
            names.push("webauthn");
        }
        names.push("recovery_code");
        names
    }
}
