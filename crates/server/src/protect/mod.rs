//! The protect context: brute-force and suspicious-IP limits on authentication.
//!
//! Counters live in process (a fleet shares them through Redis in a later slice). Unknown
//! and existing accounts are counted alike, so the limits reveal nothing about which exist.

pub mod api;
pub mod breach_api;
pub mod breached;
pub mod challenge;
pub mod client_ip;
pub mod limits;
pub mod shared;
pub mod stuffing;
pub mod webhook;

pub use client_ip::{ClientIp, TrustedProxies};
pub use limits::{LimitsConfig, LoginLimits, Throttled};

/// Where the login limits are kept: in this process, or in Redis for a fleet.
#[derive(Debug)]
pub enum Limits {
    Local(LoginLimits),
    Shared(shared::SharedLimits),
}

/// Without its counters the protection cannot decide, so it refuses (fails closed).
fn unavailable(err: redis::RedisError) -> crate::ApiError {
    tracing::error!(error = %err, "Redis is unavailable to the login limits");
    crate::ApiError::Unavailable {
        detail: "sign-in protection is unavailable; try again shortly",
    }
}

fn throttled(t: Throttled) -> crate::ApiError {
    crate::ApiError::TooManyAttempts {
        retry_after_secs: t.retry_after_secs,
    }
}

impl Limits {
    pub async fn check(
        &self,
        account: Option<&str>,
        address: Option<std::net::IpAddr>,
        now: medvault_domain::UnixMillis,
    ) -> Result<(), crate::ApiError> {
        match self {
            Self::Local(limits) => limits.check(account, address, now).map_err(throttled),
            Self::Shared(limits) => limits
                .check(account, address, now)
                .await
                .map_err(unavailable)?
                .map_err(throttled),
        }
    }

    pub async fn failed(
        &self,
        account: Option<&str>,
        address: Option<std::net::IpAddr>,
        now: medvault_domain::UnixMillis,
    ) -> Result<limits::FailureEffect, crate::ApiError> {
        match self {
            Self::Local(limits) => Ok(limits.failed(account, address, now)),
            Self::Shared(limits) => limits
                .failed(account, address, now)
                .await
                .map_err(unavailable),
        }
    }

    pub async fn pressure(
        &self,
        account: Option<&str>,
        address: Option<std::net::IpAddr>,
        now: medvault_domain::UnixMillis,
    ) -> Result<(u32, u32), crate::ApiError> {
        match self {
            Self::Local(limits) => Ok(limits.pressure(account, address, now)),
            Self::Shared(limits) => limits
                .pressure(account, address, now)
                .await
                .map_err(unavailable),
        }
    }

    /// A correct password, or an admin's unlock, clears the account.
    pub async fn clear(&self, account: &str) -> Result<(), crate::ApiError> {
        match self {
            Self::Local(limits) => {
                limits.succeeded(account);
                Ok(())
            }
            Self::Shared(limits) => limits.clear(account).await.map_err(unavailable),
        }
    }

    /// Redis expires its own keys; only the in-process maps need pruning.
    pub fn prune(&self, now: medvault_domain::UnixMillis) {
        if let Self::Local(limits) = self {
            limits.prune(now);
        }
    }
}

/// The protect context's shared parts.
#[derive(Debug)]
pub struct Protect {
    pub limits: Limits,
    pub trusted_proxies: TrustedProxies,
    /// Addresses exempt from the per-address limit (e.g. a hospital's own NAT).
    pub allowed: Vec<ipnet::IpNet>,
    pub challenges: challenge::Challenges,
    pub stuffing: stuffing::StuffingDetector,
    /// Where security events are pushed, when configured.
    pub webhook: Option<std::sync::Arc<webhook::Webhook>>,
}

impl Protect {
    /// The key the per-address limit counts `client` under; `None` when allow-listed.
    pub fn address_key(&self, client: ClientIp) -> Option<std::net::IpAddr> {
        let allowed = self.allowed.iter().any(|net| net.contains(&client.0));
        (!allowed).then(|| client.limit_key())
    }
}

/// Actions that are security events: listed for admins and auditors, and counted.
pub const SECURITY_EVENTS: [medvault_domain::AuditAction; 7] = [
    medvault_domain::AuditAction::SecurityStuffingSuspected,
    medvault_domain::AuditAction::SecurityLockout,
    medvault_domain::AuditAction::SecurityIpBlocked,
    medvault_domain::AuditAction::SecurityBreachedPassword,
    medvault_domain::AuditAction::TokenReuseDetected,
    medvault_domain::AuditAction::BreakGlass,
    medvault_domain::AuditAction::SecurityMfaRemoved,
];

/// Records a security event: in the audit trail (which is where they are stored and listed
/// from), in the metrics, and in the log.
pub async fn security_event(
    state: &crate::AppState,
    event: medvault_domain::AuditEvent,
) -> Result<(), crate::ApiError> {
    let kind = event.action.code();
    tracing::warn!(
        kind,
        source_ip = event.source_ip.as_deref().unwrap_or("unknown"),
        "security event"
    );
    state.metrics.security_event(kind);
    if state.protect.webhook.is_some() {
        webhook::enqueue(state, &event).await?;
    }
    crate::audit::record(&state.audit, event).await
}

/// Counts a failed sign-in for credential-stuffing detection: in Redis for a fleet,
/// otherwise in this process.
pub async fn stuffing_failed(
    state: &crate::AppState,
    account: &str,
    address: std::net::IpAddr,
) -> Result<stuffing::Suspicion, crate::ApiError> {
    let protect = &state.protect;
    let now = crate::clock::now();
    match &protect.limits {
        Limits::Local(_) => Ok(protect.stuffing.failed(account, address, now)),
        Limits::Shared(shared) => shared
            .stuffing_failed(account, address, now, protect.stuffing.config())
            .await
            .map_err(unavailable),
    }
}

/// Demands a solved challenge when the pressure on `account` or `address` calls for one.
/// A missing, wrong, expired, too easy or replayed answer gets a fresh challenge.
pub async fn require_challenge(
    state: &crate::AppState,
    account: Option<&str>,
    address: Option<std::net::IpAddr>,
    answer: Option<crate::identity::sessions::ChallengeAnswer>,
) -> Result<(), crate::ApiError> {
    let protect = &state.protect;
    let now = crate::clock::now();
    let (address_failures, account_failures) =
        protect.limits.pressure(account, address, now).await?;
    let Some(difficulty) = protect
        .challenges
        .difficulty(address_failures, account_failures)
    else {
        return Ok(());
    };
    if let Some(answer) = answer {
        match protect
            .challenges
            .verify(&answer.token, &answer.solution, difficulty, now)
        {
            Ok((prefix, expires_at)) => {
                let first_use = match &protect.limits {
                    Limits::Local(_) => protect.challenges.spend_locally(prefix, expires_at),
                    Limits::Shared(shared) => shared
                        .spend_challenge(&prefix, expires_at)
                        .await
                        .map_err(unavailable)?,
                };
                if first_use {
                    return Ok(());
                }
                tracing::info!(reason = %challenge::ChallengeError::Replayed, "challenge answer refused");
            }
            Err(reason) => tracing::info!(reason = %reason, "challenge answer refused"),
        }
    }
    let challenge = protect.challenges.issue(difficulty, now);
    Err(crate::ApiError::ChallengeRequired {
        challenge: serde_json::to_value(challenge).expect("a challenge serializes"),
    })
}
