//! `POST /fhir` with a batch or transaction Bundle (FHIR R4 §3.1.0.11).
//!
//! A transaction is all or nothing: every entry is prepared (validated, authorized,
//! references resolved, `urn:uuid:` full URLs replaced by the ids they are assigned), then
//! the gate stores every write in one database transaction. A batch runs its entries
//! one by one, each answering for itself.

use std::collections::HashMap;

use axum::http::StatusCode;
use medvault_domain::{FhirId, ResourceType};
use serde_json::{json, Value};

use super::gate::{Caller, PendingWrite};
use super::records::{new_id, Created};
use super::render::etag;
use super::resource::instant;
use super::{Fhir, OperationOutcome};

/// Entries one Bundle may hold, so one request's work stays bounded.
pub const MAX_ENTRIES: usize = 1_000;

enum Request {
    Create {
        resource_type: ResourceType,
        body: Value,
    },
    Update {
        resource_type: ResourceType,
        id: FhirId,
        body: Value,
        if_match: Option<u64>,
    },
    Delete {
        resource_type: ResourceType,
        id: FhirId,
    },
    Read {
        resource_type: ResourceType,
        id: FhirId,
    },
}

/// Parses one entry's `request` and `resource`; `n` is its index, for messages.
fn parse_entry(n: usize, entry: &Value) -> Result<Request, OperationOutcome> {
    let at = |what: &str| format!("Bundle.entry[{n}].{what}");
    let bad = |what: &str, problem: &str| {
        OperationOutcome::invalid(format!("{}: {problem}", at(what))).at(at(what))
    };
    let request = entry
        .get("request")
        .ok_or_else(|| bad("request", "is required"))?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("request.method", "is required"))?;
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("request.url", "is required"))?;
    for unsupported in ["ifNoneExist", "ifNoneMatch", "ifModifiedSince"] {
        if request.get(unsupported).is_some() {
            return Err(OperationOutcome::not_supported(format!(
                "{}: conditional requests are not supported",
                at(&format!("request.{unsupported}"))
            )));
        }
    }
    let path = url
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_start_matches('/');
    if path.len() != url.trim_start_matches('/').len() {
        return Err(OperationOutcome::not_supported(format!(
            "{}: searches and conditional URLs are not supported in Bundles",
            at("request.url")
        )));
    }
    let mut parts = path.split('/');
    let resource_type: ResourceType = parts
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| bad("request.url", "must name a stored resource type"))?;
    let id = parts
        .next()
        .map(|id| id.parse::<FhirId>())
        .transpose()
        .map_err(|_| bad("request.url", "has a malformed id"))?;
    if parts.next().is_some() {
        return Err(OperationOutcome::not_supported(format!(
            "{}: only `Type` and `Type/id` URLs are supported",
            at("request.url")
        )));
    }
    let body = || {
        entry
            .get("resource")
            .cloned()
            .ok_or_else(|| bad("resource", "is required for this method"))
    };
    match (method, id) {
        ("POST", None) => Ok(Request::Create {
            resource_type,
            body: body()?,
        }),
        ("PUT", Some(id)) => {
            let if_match = request
                .get("ifMatch")
                .and_then(Value::as_str)
                .map(parse_if_match)
                .transpose()?;
            Ok(Request::Update {
                resource_type,
                id,
                body: body()?,
                if_match,
            })
        }
        ("DELETE", Some(id)) => Ok(Request::Delete { resource_type, id }),
        ("GET", Some(id)) => Ok(Request::Read { resource_type, id }),
        _ => Err(OperationOutcome::not_supported(format!(
            "{}: {method} {url} is not supported; use POST Type, PUT/DELETE/GET Type/id",
            at("request")
        ))),
    }
}

/// `W/"3"` or `3`.
pub fn parse_if_match(value: &str) -> Result<u64, OperationOutcome> {
    value
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| OperationOutcome::invalid("If-Match must be a version ETag such as W/\"1\""))
}

/// Replaces every `reference` naming a `urn:uuid:` full URL with the id it was assigned.
fn resolve_placeholders(value: &mut Value, assigned: &HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "reference" {
                    if let Some(target) = child.as_str().and_then(|r| assigned.get(r)) {
                        *child = Value::String(target.clone());
                    }
                } else {
                    resolve_placeholders(child, assigned);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| resolve_placeholders(item, assigned)),
        _ => {}
    }
}

impl Fhir {
    pub async fn bundle(
        &self,
        caller: Caller<'_>,
        bundle: Value,
    ) -> Result<Value, OperationOutcome> {
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(
                OperationOutcome::invalid("POST /fhir takes a Bundle").at("Bundle.resourceType")
            );
        }
        let entries = match bundle.get("entry") {
            None => Vec::new(),
            Some(Value::Array(entries)) => entries.clone(),
            Some(_) => {
                return Err(
                    OperationOutcome::invalid("Bundle.entry: must be an array").at("Bundle.entry")
                )
            }
        };
        if entries.len() > MAX_ENTRIES {
            return Err(OperationOutcome::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                format!("a Bundle holds at most {MAX_ENTRIES} entries"),
            ));
        }
        match bundle.get("type").and_then(Value::as_str) {
            Some("transaction") => self.transaction(caller, entries).await,
            Some("batch") => Ok(self.batch(caller, entries).await),
            _ => Err(
                OperationOutcome::invalid("Bundle.type: must be batch or transaction")
                    .at("Bundle.type"),
            ),
        }
    }

    async fn transaction(
        &self,
        caller: Caller<'_>,
        mut entries: Vec<Value>,
    ) -> Result<Value, OperationOutcome> {
        let mut requests = Vec::with_capacity(entries.len());
        let mut assigned = HashMap::new();
        let mut created = Created::new();
        let mut ids = Vec::with_capacity(entries.len());
        for (n, entry) in entries.iter().enumerate() {
            let request = parse_entry(n, entry)?;
            let id = match &request {
                Request::Create { resource_type, .. } => {
                    let id = new_id(*resource_type);
                    if let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str) {
                        if full_url.starts_with("urn:uuid:") {
                            assigned.insert(full_url.to_owned(), format!("{resource_type}/{id}"));
                        }
                    }
                    created.insert((*resource_type, id.clone()));
                    Some(id)
                }
                _ => None,
            };
            ids.push(id);
            requests.push(request);
        }
        for entry in &mut entries {
            if let Some(resource) = entry.get_mut("resource") {
                resolve_placeholders(resource, &assigned);
            }
        }
        // Re-read the bodies with placeholders resolved.
        let mut writes: Vec<Option<PendingWrite>> = Vec::with_capacity(requests.len());
        let mut reads = Vec::new();
        for (n, (request, id)) in requests.into_iter().zip(ids).enumerate() {
            let body = entries[n].get("resource").cloned().unwrap_or(Value::Null);
            let in_entry = |err: OperationOutcome| err.within(n);
            let write = match request {
                Request::Create { resource_type, .. } => {
                    let id = id.unwrap_or_else(|| new_id(resource_type));
                    Some(
                        self.prepare_create(caller, resource_type, id, body, &created)
                            .await
                            .map_err(in_entry)?,
                    )
                }
                Request::Update {
                    resource_type,
                    id,
                    if_match,
                    ..
                } => Some(
                    self.prepare_update(caller, resource_type, id, body, if_match, &created)
                        .await
                        .map_err(in_entry)?,
                ),
                Request::Delete { resource_type, id } => self
                    .prepare_delete(caller, resource_type, id)
                    .await
                    .map_err(in_entry)?,
                Request::Read { resource_type, id } => {
                    reads.push((n, resource_type, id));
                    None
                }
            };
            writes.push(write);
        }
        let responses: Vec<Value> = writes
            .iter()
            .map(|w| w.as_ref().map(written).unwrap_or(Value::Null))
            .collect();
        let mut writes: Vec<PendingWrite> = writes.into_iter().flatten().collect();
        writes.extend(self.registration_teams(caller, &writes).await?);
        self.gate.commit(caller, writes).await?;
        let mut responses = responses;
        for (n, resource_type, id) in reads {
            responses[n] = match self.gate.read(caller, resource_type, &id, None).await {
                Ok(opened) => {
                    json!({"resource": opened.resource, "response": {"status": "200", "etag": etag(opened.record.version)}})
                }
                Err(err) => failed(&err),
            };
        }
        for response in responses.iter_mut().filter(|r| r.is_null()) {
            *response = json!({"response": {"status": "204"}});
        }
        Ok(json!({"resourceType": "Bundle", "type": "transaction-response", "entry": responses}))
    }

    async fn batch(&self, caller: Caller<'_>, entries: Vec<Value>) -> Value {
        let mut responses = Vec::with_capacity(entries.len());
        for (n, entry) in entries.iter().enumerate() {
            let response = match self.batch_entry(caller, n, entry).await {
                Ok(response) => response,
                Err(err) => failed(&err),
            };
            responses.push(response);
        }
        json!({"resourceType": "Bundle", "type": "batch-response", "entry": responses})
    }

    async fn batch_entry(
        &self,
        caller: Caller<'_>,
        n: usize,
        entry: &Value,
    ) -> Result<Value, OperationOutcome> {
        let none = Created::new();
        let write = match parse_entry(n, entry)? {
            Request::Create {
                resource_type,
                body,
            } => Some(
                self.prepare_create(caller, resource_type, new_id(resource_type), body, &none)
                    .await?,
            ),
            Request::Update {
                resource_type,
                id,
                body,
                if_match,
            } => Some(
                self.prepare_update(caller, resource_type, id, body, if_match, &none)
                    .await?,
            ),
            Request::Delete { resource_type, id } => {
                self.prepare_delete(caller, resource_type, id).await?
            }
            Request::Read { resource_type, id } => {
                let opened = self.gate.read(caller, resource_type, &id, None).await?;
                return Ok(
                    json!({"resource": opened.resource, "response": {"status": "200", "etag": etag(opened.record.version)}}),
                );
            }
        };
        let Some(write) = write else {
            return Ok(json!({"response": {"status": "204"}}));
        };
        let response = written(&write);
        let mut writes = vec![write];
        writes.extend(self.registration_teams(caller, &writes).await?);
        self.gate.commit(caller, writes).await?;
        Ok(response)
    }
}

/// The response entry of a stored write.
fn written(write: &PendingWrite) -> Value {
    let status = match (&write.resource, write.expected_version) {
        (None, _) => "204",
        (Some(_), None) => "201 Created",
        (Some(_), Some(_)) => "200 OK",
    };
    let mut entry = json!({"response": {
        "status": status,
        "location": format!("{}/{}/_history/{}", write.resource_type, write.id, write.version),
        "etag": etag(write.version),
        "lastModified": instant(write.last_updated),
    }});
    if let Some(resource) = &write.resource {
        entry["resource"] = resource.clone();
    }
    entry
}

fn failed(err: &OperationOutcome) -> Value {
    json!({"response": {"status": err.status().as_u16().to_string(), "outcome": err.resource()}})
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(Request);
