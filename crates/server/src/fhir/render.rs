//! FHIR responses: single resources with their version headers, and Bundles.

use axum::http::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use medvault_store::RecordVersion;
use serde_json::{json, Value};

use super::gate::{Opened, Page};
use super::resource::{http_date, instant};

/// `application/x-www-form-urlencoded` serialisation of query pairs, for Bundle links.
pub fn query_string(params: &[(String, String)]) -> String {
    use crate::http::percent_encode;
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `W/"<version>"` (FHIR R4 §3.1.0.5: versions are weak ETags).
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The version headers of a record.
pub fn version_headers(record: &RecordVersion, base: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put(ETAG, etag(record.version));
    put(LAST_MODIFIED, http_date(record.last_updated));
    put(
        LOCATION,
        format!(
            "{base}/{}/{}/_history/{}",
            record.resource_type, record.id, record.version
        ),
    );
    headers
}

/// A FHIR JSON response.
pub fn fhir_json(status: StatusCode, headers: HeaderMap, body: &Value) -> Response {
    fhir_text(status, headers, body.to_string())
}

/// A FHIR response whose JSON is already serialised (or empty).
pub fn fhir_text(status: StatusCode, headers: HeaderMap, body: String) -> Response {
    let mut response = (status, headers, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(super::CONTENT_TYPE));
    response
}

/// One Bundle entry for an opened record: the resource, or for a deletion its request.
pub fn entry(base: &str, opened: &Opened, history: bool) -> Value {
    let r = &opened.record;
    let full_url = format!("{base}/{}/{}", r.resource_type, r.id);
    let mut entry = json!({ "fullUrl": full_url });
    if let Some(resource) = &opened.resource {
        entry["resource"] = resource.clone();
    }
    if history {
        let (method, status) = match (r.deleted, r.version) {
            (true, _) => ("DELETE", "204"),
            (false, 1) => ("POST", "201"),
            (false, _) => ("PUT", "200"),
        };
        let url = if method == "POST" {
            r.resource_type.to_string()
        } else {
            format!("{}/{}", r.resource_type, r.id)
        };
        entry["request"] = json!({"method": method, "url": url});
        entry["response"] = json!({
            "status": status,
            "etag": etag(r.version),
            "lastModified": instant(r.last_updated),
        });
    } else {
        entry["search"] = json!({"mode": "match"});
    }
    entry
}

/// A searchset Bundle of one page, with `self` and `next` links.
pub fn searchset(base: &str, path: &str, echo: &[(String, String)], page: &Page) -> Value {
    let link = |params: &[(String, String)]| {
        if params.is_empty() {
            format!("{base}/{path}")
        } else {
            format!("{base}/{path}?{}", query_string(params))
        }
    };
    let mut links = vec![json!({"relation": "self", "url": link(echo)})];
    if let Some(cursor) = &page.next {
        let mut next = echo.to_vec();
        next.push(("_cursor".to_owned(), cursor.clone()));
        links.push(json!({"relation": "next", "url": link(&next)}));
    }
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": page.entries.iter().map(|o| entry(base, o, false)).collect::<Vec<_>>(),
    })
}

/// A history Bundle.
pub fn history(base: &str, self_url: String, entries: &[Opened], next: Option<String>) -> Value {
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = next {
        links.push(json!({"relation": "next", "url": next}));
    }
    json!({
        "resourceType": "Bundle",
        "type": "history",
        "link": links,
        "entry": entries.iter().map(|o| entry(base, o, true)).collect::<Vec<_>>(),
    })
}
