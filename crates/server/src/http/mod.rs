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
