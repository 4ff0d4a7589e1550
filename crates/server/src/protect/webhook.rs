//! Security events pushed to an operator's webhook (a SIEM, a pager). Each event is first
//! written to the outbox in the database, then delivered by a background task with
//! exponential back-off until the receiver answers 2xx: an outage of the receiver, or a
//! restart of medvault, loses nothing. Bodies carry ids and codes only, never PHI, and are
//! signed (`X-Medvault-Signature: sha256=<hex HMAC>`) when a secret is configured.

use std::sync::Arc;
use std::time::Duration;

use medvault_crypto::mac::SharedSecretSigner;
use medvault_domain::{AuditEvent, UnixMillis};
use serde_json::json;

use crate::clock::now;
use crate::AppState;

/// How long a deliverer holds a claimed message before another may try it.
const LEASE_MS: i64 = 60_000;
const BATCH: u32 = 50;
/// Back-off doubles from one second up to an hour between attempts.
const MAX_BACKOFF_SECS: u64 = 3_600;

#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// Shared with the receiver to check `X-Medvault-Signature`.
    pub secret: Option<crate::redact::SecretText>,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct Webhook {
    url: String,
    signer: Option<SharedSecretSigner>,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(config.timeout).build()?,
            signer: config
                .secret
                .as_ref()
                .map(|secret| SharedSecretSigner::new(secret.expose())),
            url: config.url,
        })
    }
}

/// The webhook body of an event: what happened, to which account, from where.
pub fn payload(id: &str, event: &AuditEvent) -> String {
    json!({
        "id": id,
        "kind": event.action.code(),
        "outcome": event.outcome.code(),
        "at": crate::fhir::resource::instant(event.at),
        "user": event.resource.as_ref().filter(|r| r.kind == "User").map(|r| r.id.clone()),
        "session": event.session.map(|s| s.to_string()),
        "source_ip": event.source_ip,
        "request_id": event.request_id,
    })
    .to_string()
}

/// Queues an event for delivery, durably.
pub async fn enqueue(state: &AppState, event: &AuditEvent) -> Result<(), crate::ApiError> {
    let id = uuid::Uuid::new_v4().to_string();
    state
        .store
        .enqueue_outbox(&id, &payload(&id, event), now())
        .await?;
    Ok(())
}

/// Delivers due messages until the process stops.
pub async fn deliver_forever(state: AppState, webhook: Arc<Webhook>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let due = match state.store.claim_outbox(now(), LEASE_MS, BATCH).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %crate::error::error_chain(&err), "cannot read the security-event outbox");
                continue;
            }
        };
        for message in due {
            let delivered = send(&webhook, &message.id, &message.payload).await;
            let recorded = if delivered {
                state.store.outbox_delivered(&message.id, now()).await
            } else {
                let backoff = (1u64 << message.attempts.min(12)).min(MAX_BACKOFF_SECS);
                let retry_at = UnixMillis(
                    now()
                        .0
                        .saturating_add(i64::try_from(backoff * 1000).unwrap_or(i64::MAX)),
                );
                state.store.outbox_failed(&message.id, retry_at).await
            };
            if let Err(err) = recorded {
                // The lease runs out and the message is tried again: at least once.
                tracing::warn!(error = %crate::error::error_chain(&err), "cannot record a webhook delivery");
            }
        }
    }
}

async fn send(webhook: &Webhook, id: &str, payload: &str) -> bool {
    let mut request = webhook
        .client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("x-medvault-delivery", id)
        .body(payload.to_owned());
    if let Some(signer) = &webhook.signer {
        let tag: String = signer
            .sign(payload.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        request = request.header("x-medvault-signature", format!("sha256={tag}"));
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::warn!(status = %response.status(), "security webhook refused a delivery; will retry");
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, "security webhook unreachable; will retry");
            false
        }
    }
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(WebhookConfig);
