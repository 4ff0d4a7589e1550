//! `GET /fhir/metadata`: the CapabilityStatement, generated from the same tables the
//! server runs on, so it lists exactly the types, interactions and parameters that work.

use medvault_domain::ResourceType;
use serde_json::{json, Value};

use super::search::params;

const INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// `base` is the FHIR base URL; `issuer` the authorization server's.
pub fn statement(base: &str, issuer: &str, software_version: &str) -> Value {
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|t| {
            let mut search: Vec<Value> = vec![
                json!({"name": "_id", "type": "token"}),
                json!({"name": "_lastUpdated", "type": "date"}),
            ];
            search.extend(params::of(*t).map(|p| {
                json!({
                    "name": p.name,
                    "type": p.kind.code(),
                    "documentation": format!("{t}.{}", p.paths.join(" | {t}.")),
                })
            }));
            let mut resource = json!({
                "type": t.as_str(),
                "interaction": INTERACTIONS.iter().map(|code| json!({"code": code})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": false,
                "conditionalCreate": false,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchParam": search,
            });
            if *t == ResourceType::Patient {
                resource["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }]);
            }
            resource
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "kind": "instance",
        "software": {"name": "medvault", "version": software_version},
        "implementation": {"description": "medvault encrypted FHIR R4 record store", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": false,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR",
                }]}],
                // SMART v1's way to find the endpoints, which clients such as fhirclient
                // still use; v2 clients read /.well-known/smart-configuration.
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        {"url": "authorize", "valueUri": format!("{issuer}/oauth2/authorize")},
                        {"url": "token", "valueUri": format!("{issuer}/oauth2/token")},
                        {"url": "introspect", "valueUri": format!("{issuer}/oauth2/introspect")},
                        {"url": "revoke", "valueUri": format!("{issuer}/oauth2/revoke")},
                    ],
                }],
                "description": "SMART on FHIR (OAuth 2.0 / OpenID Connect, see /.well-known/smart-configuration) or first-party bearer JWT access tokens; every record is encrypted under its patient's key and every access is audited.",
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    })
}
