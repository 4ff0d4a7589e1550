//! The optional remote breached-password check: a Pwned Passwords range API
//! (`GET {url}/range/{first 5 hex of SHA-1}`). Only those five characters leave the server
//! (k-anonymity); the match happens here. A timeout bounds every call, and the operator
//! chooses whether an unanswered call refuses new passwords (fail closed) or lets them
//! through with a warning (fail open).

use std::time::Duration;

use medvault_crypto::password::Password;
use sha1::{Digest, Sha1};

#[derive(Debug, Clone)]
pub struct BreachApiConfig {
    /// The base URL, e.g. `https://api.pwnedpasswords.com`.
    pub url: String,
    pub timeout: Duration,
    /// Refuse new passwords when the service does not answer.
    pub fail_closed: bool,
    /// A password counts as breached from this many sightings.
    pub min_count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BreachApiError {
    #[error("the breached-password service did not answer")]
    Unreachable(#[source] reqwest::Error),
    #[error("the breached-password service answered {0}")]
    Status(reqwest::StatusCode),
}

#[derive(Debug, Clone)]
pub struct BreachApi {
    config: BreachApiConfig,
    client: reqwest::Client,
}

impl BreachApi {
    pub fn new(config: BreachApiConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("medvault/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { config, client })
    }

    pub fn fail_closed(&self) -> bool {
        self.config.fail_closed
    }

    /// Whether the service has seen `password` at least `min_count` times.
    pub async fn is_breached(&self, password: &Password) -> Result<bool, BreachApiError> {
        let digest = Sha1::digest(password.expose().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
        let (prefix, suffix) = hex.split_at(5);
        let url = format!("{}/range/{prefix}", self.config.url.trim_end_matches('/'));
        let response = self
            .client
            .get(url)
            // Padding hides from an observer how many suffixes the prefix has.
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(BreachApiError::Unreachable)?;
        if !response.status().is_success() {
            return Err(BreachApiError::Status(response.status()));
        }
        let body = response.text().await.map_err(BreachApiError::Unreachable)?;
        Ok(body.lines().any(|line| {
            line.trim()
                .split_once(':')
                .is_some_and(|(candidate, count)| {
                    candidate.eq_ignore_ascii_case(suffix)
                        && count.trim().parse::<u64>().unwrap_or(0) >= self.config.min_count.max(1)
                })
        }))
    }
}
