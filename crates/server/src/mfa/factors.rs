//! TOTP enrollment and verification, and recovery codes.

use medvault_crypto::recovery_code::RecoveryCode;
use medvault_crypto::totp::TotpSecret;
use medvault_domain::{User, UserId};
use medvault_store::StoreError;

use crate::clock::now;
use crate::{ApiError, AppState};

/// What a user presents as a second factor.
pub enum Answer {
    Code(String),
    RecoveryCode(String),
    Passkey(super::webauthn::Assertion),
}

/// Which factor was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Totp,
    RecoveryCode,
    /// A passkey with user verification; `synced` when it is backup-eligible (a synced
    /// passkey lives in software, not only in one device's hardware).
    Passkey {
        synced: bool,
    },
}

impl Verified {
    /// Its RFC 8176 method values. For passkeys `hwk` or `swk` follows the authenticator's
    /// own backup-eligibility flag (medvault asks for no attestation, so it is a claim, not
    /// a proof), and `user` records the user test the authenticator performed.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Self::Totp | Self::RecoveryCode => &[super::AMR_OTP],
            Self::Passkey { synced: true } => &[super::AMR_SOFTWARE_KEY, super::AMR_USER],
            Self::Passkey { synced: false } => &[super::AMR_HARDWARE_KEY, super::AMR_USER],
        }
    }

    /// How the audit trail names its success.
    pub fn action(self) -> medvault_domain::AuditAction {
        match self {
            Self::RecoveryCode => medvault_domain::AuditAction::MfaRecoveryCodeUsed,
            Self::Totp | Self::Passkey { .. } => medvault_domain::AuditAction::MfaSuccess,
        }
    }
}

/// A started enrollment: what the authenticator app needs.
pub struct Enrollment {
    pub secret: zeroize::Zeroizing<String>,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Starts (or restarts) TOTP enrollment. 409 when a confirmed factor exists.
pub async fn start(state: &AppState, user: &User) -> Result<Enrollment, ApiError> {
    let secret = TotpSecret::generate();
    let sealed = secret.seal(&state.identity.totp_key, &user.id.to_string());
    match state.store.put_pending_totp(user.id, &sealed, now()).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(ApiError::Conflict {
                detail: "TOTP is already enrolled; remove it first to enroll a new device".into(),
            })
        }
        Err(err) => return Err(err.into()),
    }
    let base32 = secret.to_base32();
    let issuer = "medvault";
    let label = format!("{issuer}:{}", user.email.as_str());
    // Key URI format (Google Authenticator wiki): label and issuer percent-encoded.
    let otpauth_uri = format!(
        "otpauth://totp/{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={}",
        crate::http::percent_encode(&label),
        base32.as_str(),
        medvault_crypto::totp::DIGITS,
        medvault_crypto::totp::STEP_SECS,
    );
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(ApiError::internal)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrollment {
        secret: base32,
        otpauth_uri,
        qr_svg,
    })
}

/// Confirms the pending enrollment with a first code; returns the recovery codes, shown once.
pub async fn confirm(
    state: &AppState,
    user: UserId,
    code: &str,
) -> Result<Vec<RecoveryCode>, ApiError> {
    let Some(record) = state.store.totp(user).await? else {
        return Err(not_enrolling());
    };
    if record.confirmed_at.is_some() {
        return Err(ApiError::Conflict {
            detail: "TOTP is already enrolled".into(),
        });
    }
    let secret = TotpSecret::open(
        &state.identity.totp_key,
        &user.to_string(),
        &record.sealed_secret,
    )
    .map_err(|_| ApiError::internal("a TOTP secret does not open"))?;
    let Some(step) = secret.verify(code.trim(), now_secs(), record.last_step) else {
        return Err(invalid_code());
    };
    // The account's first factor brings recovery codes; a further one keeps the set.
    let codes: Vec<RecoveryCode> = match super::enrolled(state.store.as_ref(), user).await? {
        true => Vec::new(),
        false => (0..super::RECOVERY_CODES)
            .map(|_| RecoveryCode::generate())
            .collect(),
    };
    let digests: Vec<[u8; 32]> = codes.iter().map(RecoveryCode::digest).collect();
    match state.store.confirm_totp(user, step, now(), &digests).await {
        Ok(()) => Ok(codes),
        Err(StoreError::NotFound) => Err(not_enrolling()),
        Err(err) => Err(err.into()),
    }
}

/// Replaces the recovery codes; the old set stops working.
pub async fn regenerate_codes(
    state: &AppState,
    user: UserId,
) -> Result<Vec<RecoveryCode>, ApiError> {
    if !super::enrolled(state.store.as_ref(), user).await? {
        return Err(not_enrolling());
    }
    new_recovery_codes(state, user).await
}

/// A fresh set of recovery codes, replacing any old set.
pub async fn new_recovery_codes(
    state: &AppState,
    user: UserId,
) -> Result<Vec<RecoveryCode>, ApiError> {
    let codes: Vec<RecoveryCode> = (0..super::RECOVERY_CODES)
        .map(|_| RecoveryCode::generate())
        .collect();
    let digests: Vec<[u8; 32]> = codes.iter().map(RecoveryCode::digest).collect();
    state.store.replace_recovery_codes(user, &digests).await?;
    Ok(codes)
}

/// Checks a second factor. A TOTP code is accepted once per time step; a recovery code
/// once ever. `None` when the answer is wrong, replayed or the user has no factor.
pub async fn verify(
    state: &AppState,
    user: UserId,
    answer: &Answer,
) -> Result<Option<Verified>, ApiError> {
    let store = state.store.as_ref();
    match answer {
        Answer::Code(code) => {
            let Some(record) = store.totp(user).await?.filter(|r| r.confirmed_at.is_some()) else {
                return Ok(None);
            };
            let secret = TotpSecret::open(
                &state.identity.totp_key,
                &user.to_string(),
                &record.sealed_secret,
            )
            .map_err(|_| ApiError::internal("a TOTP secret does not open"))?;
            let Some(step) = secret.verify(code.trim(), now_secs(), record.last_step) else {
                return Ok(None);
            };
            match store.use_totp_step(user, step).await {
                Ok(()) => Ok(Some(Verified::Totp)),
                // Another request used this step first: a replay.
                Err(StoreError::Conflict) => Ok(None),
                Err(err) => Err(err.into()),
            }
        }
        Answer::RecoveryCode(code) => match store
            .use_recovery_code(user, &RecoveryCode::digest_of(code), now())
            .await
        {
            Ok(()) => Ok(Some(Verified::RecoveryCode)),
            Err(StoreError::NotFound) => Ok(None),
            Err(err) => Err(err.into()),
        },
        Answer::Passkey(assertion) => super::webauthn::verify(state, user, assertion).await,
    }
}

fn now_secs() -> u64 {
    u64::try_from(now().as_secs()).unwrap_or(0)
}

pub fn invalid_code() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_code",
        bearer: false,
    }
}

fn not_enrolling() -> ApiError {
    ApiError::Conflict {
        detail: "no TOTP enrollment is pending; start one with POST /api/v1/me/mfa/totp".into(),
    }
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(Answer, Enrollment);
