//! The public keys a `private_key_jwt` client authenticates with: registered inline
//! (`jwks`) or published at its `jwks_uri`. Published keys are fetched when needed and
//! cached for five minutes. When an assertion does not verify with the cached keys they
//! are fetched again at once, so a client can rotate its keys (SMART Backend Services
//! §4.1); such refetches happen at most every 30 s, so bad assertions cannot make medvault
//! hammer the client's server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medvault_crypto::client_assertion::ClientJwk;
use medvault_store::OAuthClient;

const FRESH_FOR: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS is a few keys; anything bigger is not one.
const MAX_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct ClientKeys {
    http: reqwest::Client,
    fetched: Mutex<HashMap<String, Fetched>>,
}

#[derive(Debug, Clone)]
struct Fetched {
    at: Instant,
    /// When a failed verification last caused a fetch.
    refetched: Option<Instant>,
    keys: Arc<Vec<ClientJwk>>,
}

impl Default for ClientKeys {
    fn default() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client builds"),
            fetched: Mutex::new(HashMap::new()),
        }
    }
}

impl ClientKeys {
    /// The client's keys. `again`: the cached ones did not verify an assertion, so fetch
    /// them anew unless that was done in the last 30 s.
    pub async fn of(&self, client: &OAuthClient, again: bool) -> Arc<Vec<ClientJwk>> {
        if let Some(jwks) = &client.jwks {
            return Arc::new(parse(jwks.as_bytes()));
        }
        let Some(uri) = &client.jwks_uri else {
            return Arc::default();
        };
        let cached = self.lock().get(uri).cloned();
        if let Some(cached) = &cached {
            let usable = if again {
                cached
                    .refetched
                    .is_some_and(|t| t.elapsed() < REFETCH_AFTER)
            } else {
                cached.at.elapsed() < FRESH_FOR
            };
            if usable {
                return cached.keys.clone();
            }
        }
        match self.fetch(uri).await {
            Ok(keys) => {
                let now = Instant::now();
                let refetched = if again {
                    Some(now)
                } else {
                    cached.and_then(|c| c.refetched)
                };
                let fetched = Fetched {
                    at: now,
                    refetched,
                    keys: Arc::new(keys),
                };
                self.lock().insert(uri.clone(), fetched.clone());
                fetched.keys
            }
            Err(reason) => {
                tracing::warn!(client_id = %client.client_id, reason = %reason,
                    "a client's jwks_uri could not be fetched");
                cached.map(|c| c.keys).unwrap_or_default()
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Fetched>> {
        self.fetched.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<ClientJwk>, String> {
        let response = self
            .http
            .get(uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BYTES as u64)
        {
            return Err("the JWKS is too large".into());
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if body.len() > MAX_BYTES {
            return Err("the JWKS is too large".into());
        }
        let keys = parse(&body);
        if keys.is_empty() {
            return Err("no usable key in the JWKS".into());
        }
        Ok(keys)
    }
}

/// The usable keys of a JWKS document (`{"keys": [...]}`); others are skipped.
fn parse(jwks: &[u8]) -> Vec<ClientJwk> {
    serde_json::from_slice::<serde_json::Value>(jwks)
        .ok()
        .and_then(|doc| doc.get("keys").cloned())
        .and_then(|keys| serde_json::from_value::<Vec<serde_json::Value>>(keys).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|key| serde_json::from_value::<ClientJwk>(key).ok())
        .filter(ClientJwk::usable)
        .collect()
}
