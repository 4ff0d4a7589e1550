//! De-identification by HIPAA Safe Harbor (45 CFR §164.514(b)(2)) for research exports.
//!
//! Written as keeping only what cannot carry one of the 18 identifiers, rather than as a
//! list of the places they usually are: text survives only in coded elements (a name typed
//! into a note, a lot number or a local code is still an identifier), codings only from
//! public terminologies, and identifiers, names, contact details, addresses, photos,
//! attachments, extensions and meta go whole. Every date keeps its year only; a birth date
//! that would make the patient older than 89 goes, and ages over 89 become "90 or older".
//! Ids and references become keyed pseudonyms: stable across exports, so a study can
//! follow a patient, and never reversible without medvault's key.

use medvault_domain::ResourceType;
use serde_json::{Map, Value};

/// The clinical types a research export carries. Consents, care teams, messages and
/// documents are administrative or free text through and through.
pub const EXPORTED: [ResourceType; 8] = [
    ResourceType::Patient,
    ResourceType::AllergyIntolerance,
    ResourceType::Condition,
    ResourceType::DiagnosticReport,
    ResourceType::Encounter,
    ResourceType::Immunization,
    ResourceType::MedicationRequest,
    ResourceType::Observation,
];

/// Elements removed wherever they occur.
const REMOVED: &[&str] = &[
    // Identifiers and the people they name.
    "identifier",
    "name",
    "telecom",
    "address",
    "photo",
    "contact",
    "link",
    "qualification",
    // Free text, anywhere.
    "text",
    "display",
    "note",
    "comment",
    "description",
    "conclusion",
    "patientInstruction",
    "valueString",
    "valueMarkdown",
    // Attachments and what may point outside.
    "content",
    "presentedForm",
    "valueAttachment",
    "payload",
    "url",
    // Anything unmodelled, and server bookkeeping (authors, timestamps).
    "extension",
    "modifierExtension",
    "meta",
    "implicitRules",
];

/// How a de-identified export names records.
pub trait Pseudonyms {
    /// A stable, keyed pseudonym for `resource_type/id`.
    fn pseudonym(&self, resource_type: &str, id: &str) -> String;
}

/// The de-identified form of `resource`, or `None` when nothing of it may leave.
/// `this_year` sets the 90-or-older threshold.
pub fn safe_harbor(resource: &Value, names: &dyn Pseudonyms, this_year: i32) -> Option<Value> {
    let resource_type = resource.get("resourceType")?.as_str()?.to_owned();
    let Value::Object(object) = resource else {
        return None;
    };
    let mut out = strip(object, names);
    if let Some(id) = resource.get("id").and_then(Value::as_str) {
        out.insert(
            "id".into(),
            Value::String(names.pseudonym(&resource_type, id)),
        );
    }
    out.insert("resourceType".into(), Value::String(resource_type.clone()));
    if resource_type == "Patient" {
        let born = out
            .get("birthDate")
            .and_then(Value::as_str)
            .and_then(|y| y.parse::<i32>().ok());
        if born.is_some_and(|year| this_year - year > 89) {
            out.remove("birthDate");
        }
    }
    Some(Value::Object(out))
}

/// Elements whose text is a code, not something a person typed: kept as they are. Every
/// other text goes, unless it is a date (kept as its year).
const CODED: &[&str] = &[
    "resourceType",
    "status",
    "gender",
    "code",
    "system",
    "version",
    "intent",
    "priority",
    "use",
    "comparator",
    "language",
    "type",
    "criticality",
    "kind",
    "mode",
    "valueCode",
];

/// Terminologies whose codes name concepts, never people. A coding (or quantity) from any
/// other system, e.g. a local one, may carry an identifier and goes.
const TERMINOLOGIES: &[&str] = &[
    "http://loinc.org",
    "http://snomed.info/sct",
    "http://hl7.org/fhir/",
    "http://terminology.hl7.org/",
    "http://unitsofmeasure.org",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://www.ama-assn.org/go/cpt",
    "urn:iso:std:iso:",
];

fn strip(object: &Map<String, Value>, names: &dyn Pseudonyms) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(system) = object.get("system").and_then(Value::as_str) {
        if !TERMINOLOGIES.iter().any(|t| system.starts_with(t)) {
            return out;
        }
    }
    for (key, value) in object {
        // `_x` carries the extensions of primitive `x`.
        if REMOVED.contains(&key.as_str()) || key.starts_with('_') {
            continue;
        }
        if key == "reference" {
            if let Some(pseudonymous) = value.as_str().and_then(|r| reference(r, names)) {
                out.insert(key.clone(), Value::String(pseudonymous));
            }
            continue;
        }
        if key == "id" {
            // Element ids inside a resource are local labels a client chose.
            continue;
        }
        if let Some(kept) = scrub(key, value, names) {
            out.insert(key.clone(), kept);
        }
    }
    // Ages over 89 pool into one category (Safe Harbor), e.g. `onsetAge`.
    if object.get("code").and_then(Value::as_str) == Some("a")
        && out
            .get("value")
            .and_then(Value::as_f64)
            .is_some_and(|age| age > 89.0)
    {
        out.insert("value".into(), Value::from(90));
        out.insert("comparator".into(), Value::String(">=".into()));
    }
    out
}

fn scrub(key: &str, value: &Value, names: &dyn Pseudonyms) -> Option<Value> {
    match value {
        Value::Object(object) => {
            let stripped = strip(object, names);
            (!stripped.is_empty()).then_some(Value::Object(stripped))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(|v| scrub(key, v, names)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        Value::String(text) => match year_only(text) {
            Some(year) => Some(Value::String(year)),
            None if CODED.contains(&key) => Some(value.clone()),
            None => None,
        },
        other => Some(other.clone()),
    }
}

/// A relative `Type/id` reference with the id pseudonymised; anything else (absolute
/// URLs, fragments) is dropped.
fn reference(reference: &str, names: &dyn Pseudonyms) -> Option<String> {
    let (resource_type, id) = reference.split_once('/')?;
    resource_type.parse::<ResourceType>().ok()?;
    if id.contains('/') || id.is_empty() {
        return None;
    }
    Some(format!(
        "{resource_type}/{}",
        names.pseudonym(resource_type, id)
    ))
}

/// The year of a FHIR date, dateTime or instant (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, with an
/// optional time); `None` for anything else.
fn year_only(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let year = digits(0..4);
    let dated = match bytes.len() {
        4 => year,
        7 => year && bytes[4] == b'-' && digits(5..7),
        n if n >= 10 => {
            year && bytes[4] == b'-'
                && digits(5..7)
                && bytes[7] == b'-'
                && digits(8..10)
                && (n == 10 || bytes[10] == b'T')
        }
        _ => false,
    };
    dated.then(|| text[..4].to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Tagged;

    impl Pseudonyms for Tagged {
        fn pseudonym(&self, resource_type: &str, id: &str) -> String {
            format!("p-{}-{}", resource_type.len(), id.len())
        }
    }

    #[test]
    fn identifiers_free_text_and_dates_go_and_references_are_pseudonymised() {
        let patient = json!({"resourceType": "Patient", "id": "abc",
            "identifier": [{"system": "urn:mrn", "value": "MRN-1"}],
            "name": [{"family": "Doe"}], "telecom": [{"value": "+1-555"}],
            "gender": "female", "birthDate": "1980-04-02",
            "address": [{"city": "Springfield", "postalCode": "12345"}],
            "managingOrganization": {"reference": "Organization/h1", "display": "St Elsewhere"},
            "_birthDate": {"extension": [{"url": "x", "valueString": "secret"}]},
            "meta": {"lastUpdated": "2026-01-01T00:00:00Z"}});
        let out = safe_harbor(&patient, &Tagged, 2026).unwrap();
        assert_eq!(
            out,
            json!({"resourceType": "Patient", "id": "p-7-3", "gender": "female",
                "birthDate": "1980", "managingOrganization": {"reference": "Organization/p-12-2"}})
        );
    }

    #[test]
    fn the_very_old_pool_into_ninety_or_older_and_codes_survive() {
        let old = json!({"resourceType": "Patient", "birthDate": "1930-01-01"});
        assert!(safe_harbor(&old, &Tagged, 2026)
            .unwrap()
            .get("birthDate")
            .is_none());
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}],
                     "text": "glucose for Jane Doe"},
            "effectiveDateTime": "2024-03-01T10:00:00Z",
            "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
            "note": [{"text": "call Jane at 555-0100"}],
            "subject": {"reference": "http://elsewhere.example/Patient/1"}});
        let out = safe_harbor(&obs, &Tagged, 2026).unwrap();
        assert_eq!(out["effectiveDateTime"], "2024");
        assert_eq!(out["valueQuantity"], json!({"value": 5.4}));
        let condition = json!({"resourceType": "Condition",
            "onsetAge": {"value": 93, "system": "http://unitsofmeasure.org", "code": "a"},
            "abatementString": "after Jane moved", "code": {"coding": [
                {"system": "urn:local:ward-7", "code": "MRN-5"},
                {"system": "http://snomed.info/sct", "code": "44054006"}]}});
        let aged = safe_harbor(&condition, &Tagged, 2026).unwrap();
        assert_eq!(
            aged,
            json!({"resourceType": "Condition",
                "onsetAge": {"value": 90, "comparator": ">=", "system": "http://unitsofmeasure.org", "code": "a"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}})
        );
        assert_eq!(
            out["code"],
            json!({"coding": [{"system": "http://loinc.org", "code": "2339-0"}]})
        );
        assert!(
            out.get("note").is_none() && out.get("subject").is_none(),
            "{out}"
        );
        assert_eq!(year_only("2339-0"), None);
        assert_eq!(year_only("2024-03"), Some("2024".into()));
    }
}
