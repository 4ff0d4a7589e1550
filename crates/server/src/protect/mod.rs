//! The protect context: brute-force and suspicious-IP limits on authentication.
//!
//! Counters live in process (a fleet shares them through Redis in a later slice). Unknown
//! and existing accounts are counted alike, so the limits reveal nothing about which exist.

pub mod client_ip;
pub mod limits;

pub use client_ip::{ClientIp, TrustedProxies};
pub use limits::{LimitsConfig, LoginLimits, Throttled};

/// The protect context's shared parts.
#[derive(Debug)]
pub struct Protect {
    pub limits: LoginLimits,
    pub trusted_proxies: TrustedProxies,
}
