//! A request id on every request and response (`x-request-id`), and a tracing span that
//! carries it, so every log line of a request and its error body can be matched up.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A caller's id is kept when it is short and plain, so a gateway's id flows through;
    /// anything else is replaced, so no caller can inject text into our logs.
    fn from_caller(value: &HeaderValue) -> Option<Self> {
        let value = value.to_str().ok()?;
        let plain = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        plain.then(|| Self(value.to_owned()))
    }
}

pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(RequestId::from_caller)
        .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string()));
    let header = HeaderValue::from_str(id.as_str()).expect("request ids are visible ASCII");
    request.extensions_mut().insert(id.clone());

    let span = tracing::info_span!("request", request_id = %id.as_str());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(HEADER.clone(), header);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_caller_ids_are_kept_and_others_replaced() {
        let ok = HeaderValue::from_static("gw-1234.abc_DEF");
        assert_eq!(
            RequestId::from_caller(&ok).unwrap().as_str(),
            "gw-1234.abc_DEF"
        );
        for bad in ["", "has space", "quote\"", "{\"json\":1}", &"a".repeat(65)] {
            let value = HeaderValue::from_str(bad).unwrap();
            assert!(RequestId::from_caller(&value).is_none(), "{bad:?}");
        }
    }
}
