//! Rules about a resource as a whole: which compartment it belongs to, and the
//! server-managed `id` and `meta` it is stored with.

use medvault_domain::{Compartment, FhirId, PatientId, ResourceType, UnixMillis};
use serde_json::{json, Map, Value};

use crate::fhir::schema::Invalid;

/// The element that names a clinical resource's patient.
pub fn patient_element(resource_type: ResourceType) -> Option<&'static str> {
    match resource_type {
        ResourceType::Patient | ResourceType::Practitioner | ResourceType::Organization => None,
        ResourceType::AllergyIntolerance | ResourceType::Immunization | ResourceType::Consent => {
            Some("patient")
        }
        _ => Some("subject"),
    }
}

/// Which data key seals the resource. Clinical resources must name their patient: medvault
/// keeps every clinical record in its patient's compartment, under that patient's key.
pub fn compartment(
    resource_type: ResourceType,
    id: &FhirId,
    resource: &Value,
) -> Result<Compartment, Invalid> {
    if resource_type.is_directory() {
        return Ok(Compartment::System);
    }
    let Some(element) = patient_element(resource_type) else {
        let patient = id.as_str().parse::<PatientId>().map_err(|_| {
            Invalid::rule(
                &format!("{resource_type}.id"),
                "Patient ids are assigned by the server",
            )
        })?;
        return Ok(Compartment::Patient(patient));
    };
    let path = format!("{resource_type}.{element}");
    let reference = resource
        .get(element)
        .and_then(|r| r.get("reference"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Invalid::rule(
                &path,
                "is required: medvault keeps every clinical record in its patient's compartment",
            )
        })?;
    reference
        .strip_prefix("Patient/")
        .and_then(|id| id.parse::<PatientId>().ok())
        .map(Compartment::Patient)
        .ok_or_else(|| {
            Invalid::rule(
                &format!("{path}.reference"),
                "refers to a Patient that does not exist",
            )
        })
}

/// Sets the server-managed elements: `id`, `meta.versionId` and `meta.lastUpdated`
/// (FHIR R4 §3.1.0.1.2: the server owns them; a client's values are replaced).
pub fn stamp(resource: &mut Value, id: &FhirId, version: u64, at: UnixMillis) {
    let Value::Object(object) = resource else {
        return;
    };
    object.insert("id".to_owned(), json!(id.as_str()));
    let meta = object
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert("versionId".to_owned(), json!(version.to_string()));
        meta.insert("lastUpdated".to_owned(), json!(instant(at)));
    }
}

/// The extension on `meta` naming who wrote a version (GDPR Art. 16: the history of a
/// record shows what changed and by whom).
pub const AUTHOR_EXTENSION: &str = "https://medvault.dev/fhir/StructureDefinition/version-author";

/// Records the author of this version in `meta.extension`, replacing any author a client
/// sent: a reference to their Practitioner or Patient when they have one, and their
/// medvault user id.
pub fn attribute(resource: &mut Value, who: &super::gate::access::Accessor) {
    let Some(Value::Object(meta)) = resource.get_mut("meta") else {
        return;
    };
    let mut author =
        json!({"identifier": {"system": "urn:medvault:user", "value": who.user_id.to_string()}});
    if let Some(practitioner) = &who.practitioner {
        author["reference"] = json!(format!("Practitioner/{practitioner}"));
    } else if let Some(patient) = who.patient {
        author["reference"] = json!(format!("Patient/{patient}"));
    }
    let extensions = meta
        .entry("extension")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(extensions) = extensions {
        extensions.retain(|e| e.get("url").and_then(Value::as_str) != Some(AUTHOR_EXTENSION));
        extensions.push(json!({"url": AUTHOR_EXTENSION, "valueReference": author}));
    }
}

/// An instant in FHIR's form, UTC with milliseconds.
pub fn instant(at: UnixMillis) -> String {
    let nanos = i128::from(at.0) * 1_000_000;
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time.format(&format).unwrap_or_default()
}

/// `Last-Modified` (RFC 9110 §5.6.7 IMF-fixdate).
pub fn http_date(at: UnixMillis) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(at.0.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time.format(&format).unwrap_or_default()
}
