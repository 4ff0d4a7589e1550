//! `RequestContext`: who is asking from where, for audit events and session records.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;

use crate::http::RequestId;

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    /// The client's address: the peer, or what a trusted proxy says it forwarded.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// User agents are free text from the client; keep a bounded, printable prefix.
const MAX_USER_AGENT: usize = 256;

impl FromRequestParts<crate::AppState> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(_) => Some(
                crate::protect::ClientIp::from_request_parts(parts, state)
                    .await?
                    .0
                    .to_string(),
            ),
            None => None,
        };
        Ok(Self {
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map(|id| id.as_str().to_owned()),
            ip,
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| {
                    ua.chars()
                        .filter(|c| !c.is_control())
                        .take(MAX_USER_AGENT)
                        .collect()
                }),
        })
    }
}
