//! The protect context: brute-force and suspicious-IP limits on authentication.
//!
//! Counters live in process (a fleet shares them through Redis in a later slice). Unknown
//! and existing accounts are counted alike, so the limits reveal nothing about which exist.

pub mod api;
pub mod breached;
pub mod challenge;
pub mod client_ip;
pub mod limits;
pub mod stuffing;

pub use client_ip::{ClientIp, TrustedProxies};
pub use limits::{LimitsConfig, LoginLimits, Throttled};

/// The protect context's shared parts.
#[derive(Debug)]
pub struct Protect {
    pub limits: LoginLimits,
    pub trusted_proxies: TrustedProxies,
    /// Addresses exempt from the per-address limit (e.g. a hospital's own NAT).
    pub allowed: Vec<ipnet::IpNet>,
    pub challenges: challenge::Challenges,
    pub stuffing: stuffing::StuffingDetector,
}

impl Protect {
    /// The key the per-address limit counts `client` under; `None` when allow-listed.
    pub fn address_key(&self, client: ClientIp) -> Option<std::net::IpAddr> {
        let allowed = self.allowed.iter().any(|net| net.contains(&client.0));
        (!allowed).then(|| client.limit_key())
    }
}

/// Actions that are security events: listed for admins and auditors, and counted.
pub const SECURITY_EVENTS: [medvault_domain::AuditAction; 6] = [
    medvault_domain::AuditAction::SecurityStuffingSuspected,
    medvault_domain::AuditAction::SecurityLockout,
    medvault_domain::AuditAction::SecurityIpBlocked,
    medvault_domain::AuditAction::SecurityBreachedPassword,
    medvault_domain::AuditAction::TokenReuseDetected,
    medvault_domain::AuditAction::BreakGlass,
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
    crate::audit::record(&state.audit, event).await
}

/// Demands a solved challenge when the pressure on `account` or `address` calls for one.
/// A missing, wrong, expired, too easy or replayed answer gets a fresh challenge.
pub fn require_challenge(
    state: &crate::AppState,
    account: Option<&str>,
    address: Option<std::net::IpAddr>,
    answer: Option<crate::identity::sessions::ChallengeAnswer>,
) -> Result<(), crate::ApiError> {
    let protect = &state.protect;
    let now = crate::clock::now();
    let (address_failures, account_failures) = protect.limits.pressure(account, address, now);
    let Some(difficulty) = protect
        .challenges
        .difficulty(address_failures, account_failures)
    else {
        return Ok(());
    };
    let refused = match answer {
        Some(answer) => {
            match protect
                .challenges
                .redeem(&answer.token, &answer.solution, difficulty, now)
            {
                Ok(()) => return Ok(()),
                Err(reason) => Some(reason),
            }
        }
        None => None,
    };
    if let Some(reason) = refused {
        tracing::info!(reason = %reason, "challenge answer refused");
    }
    let challenge = protect.challenges.issue(difficulty, now);
    Err(crate::ApiError::ChallengeRequired {
        challenge: serde_json::to_value(challenge).expect("a challenge serializes"),
    })
}
