//! Identity settings: token and session lifetimes, password hashing and policy.

use medvault_crypto::password::HashParams;

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `iss` of every token: the public URL.
    pub issuer: String,
    /// `aud` of first-party access tokens.
    pub audience: String,
    pub access_token_ttl_secs: i64,
    /// HIPAA §164.312(a)(2)(iii) automatic logoff: a session unused this long ends.
    pub session_idle_secs: i64,
    /// However active, a session ends this long after sign-in.
    pub session_absolute_secs: i64,
    pub password: PasswordSettings,
    /// Where the breached-password table lives, among other local state.
    pub data_dir: std::path::PathBuf,
    pub mfa: crate::mfa::MfaPolicy,
    /// Whether anyone may create a patient account at `/api/v1/auth/register`.
    pub self_registration: bool,
}

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub hash: HashParams,
    /// zxcvbn score (0–4) a new password must reach.
    pub min_score: u8,
    /// The remote breached-password range API, when configured.
    pub breach_api: Option<crate::protect::breach_api::BreachApiConfig>,
}

impl IdentityConfig {
    /// DESIGN.md §2.3: access tokens live at most 15 minutes.
    pub const MAX_ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
    pub const MIN_ACCESS_TOKEN_TTL_SECS: i64 = 5 * 60;
}
