//! Cross-cutting HTTP concerns: the middleware every route runs through, and extractors.

pub mod context;
pub mod json;
pub mod metrics;
pub mod paging;
pub mod problems;
pub mod request_id;
pub mod security_headers;

pub use context::RequestContext;
pub use json::ApiJson;
pub use request_id::RequestId;

/// RFC 3986 percent-encoding of everything but unreserved characters, for query values
/// and URI labels the server builds.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
