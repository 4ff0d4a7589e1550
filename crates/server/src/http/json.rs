//! `ApiJson<T>`: the JSON body extractor for the first-party API.
//!
//! Unlike axum's `Json`, its rejections are `ApiError`s, and its messages never quote
//! the body: serde's "invalid type: string \"…\"" would echo a password or PHI back.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::ApiError;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&request) {
            return Err(ApiError::UnsupportedMediaType {
                detail: "send the body as application/json".to_owned(),
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson {
                        detail: "the request body could not be read".to_owned(),
                    }
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(describe)
    }
}

fn is_json(request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn describe(err: serde_json::Error) -> ApiError {
    let at = format!("line {}, column {}", err.line(), err.column());
    match err.classify() {
        serde_json::error::Category::Data => {
            // Field names come from our own schema and are safe to name; values are not.
            let message = err.to_string();
            let named = ["missing field", "unknown field", "duplicate field"]
                .iter()
                .any(|prefix| message.starts_with(prefix));
            let what = if named {
                message
                    .split(" at line")
                    .next()
                    .unwrap_or_default()
                    .split(", expected")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                "a value has the wrong type or format".to_owned()
            };
            ApiError::InvalidBody {
                detail: format!("{what} ({at})"),
            }
        }
        _ => ApiError::MalformedJson {
            detail: format!("the body is not valid JSON ({at})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only deserialized
    struct Login {
        email: String,
        attempts: u32,
    }

    async fn post_body(content_type: Option<&str>, body: &str) -> (StatusCode, String) {
        let app = Router::new()
            .route("/", post(|ApiJson(_): ApiJson<Login>| async { "ok" }))
            .layer(axum::middleware::from_fn(crate::http::problems::render));
        let mut request = Request::post("/");
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = app
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn well_formed_json_is_accepted() {
        let (status, _) = post_body(
            Some("application/json"),
            r#"{"email":"a@b.c","attempts":1}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn wrong_or_missing_content_type_is_415() {
        for content_type in [None, Some("text/plain"), Some("application/xml")] {
            let (status, body) = post_body(content_type, r#"{"email":"a","attempts":1}"#).await;
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{content_type:?}"
            );
            assert!(body.contains("unsupported-media-type"), "{body}");
        }
    }

    #[tokio::test]
    async fn malformed_json_is_400_with_its_position() {
        let (status, body) = post_body(Some("application/json"), r#"{"email": "#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("malformed-json") && body.contains("line 1"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn wrong_shape_is_422_naming_the_field() {
        let (status, body) = post_body(Some("application/json"), r#"{"attempts":1}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("missing field `email`"), "{body}");
    }

    #[tokio::test]
    async fn rejections_never_echo_the_submitted_value() {
        let secret = "correct-horse-battery-staple";
        let body = format!(r#"{{"email":"a@b.c","attempts":"{secret}"}}"#);
        let (status, body) = post_body(Some("application/json"), &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!body.contains(secret), "{body}");
    }
}
