//! One chained entry as a FHIR R4 AuditEvent, with codes from the DICOM and HL7 value sets
//! the AuditEvent resource binds (http://hl7.org/fhir/R4/auditevent.html).

use std::collections::HashMap;

use medvault_domain::{Actor, AuditAction, Outcome, PatientId, PurposeOfUse};
use medvault_store::ChainedEntry;
use serde_json::{json, Value};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL: &str = "http://hl7.org/fhir/restful-interaction";
const MEDVAULT_ACTION: &str = "urn:medvault:audit-action";
/// The identifier system of audit subjects whose patient can no longer be named.
const SUBJECT: &str = "urn:medvault:audit-subject";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

/// The event type and the standard subtype, where one exists.
fn classify(action: AuditAction) -> (Value, Option<Value>) {
    use AuditAction as A;
    let authentication = coding(DCM, "110114", "User Authentication");
    let rest = coding(EVENT_TYPE, "rest", "RESTful Operation");
    let security = coding(DCM, "110113", "Security Alert");
    match action {
        A::LoginSuccess | A::LoginFailure | A::TokenRefresh => {
            (authentication, Some(coding(DCM, "110122", "Login")))
        }
        A::SessionEnd => (authentication, Some(coding(DCM, "110123", "Logout"))),
        A::TokenReuseDetected => (security, None),
        A::UserRoleChange => (coding(DCM, "110136", "Security Roles Changed"), None),
        A::UserCreate | A::UserUpdate | A::UserPasswordChange | A::UserDelete => (
            coding(DCM, "110137", "User Security Attributes Changed"),
            None,
        ),
        A::KeysRotate | A::ClientCreate | A::ClientDelete | A::PolicyLoad | A::OAuthConsent => {
            (coding(DCM, "110100", "Application Activity"), None)
        }
        A::FhirRead => (rest, Some(coding(RESTFUL, "read", "read"))),
        A::FhirSearch => (rest, Some(coding(RESTFUL, "search-type", "search type"))),
        A::FhirCreate => (rest, Some(coding(RESTFUL, "create", "create"))),
        A::FhirUpdate => (rest, Some(coding(RESTFUL, "update", "update"))),
        A::FhirDelete => (rest, Some(coding(RESTFUL, "delete", "delete"))),
        A::ConsentChange => (rest, Some(coding(RESTFUL, "update", "update"))),
        A::BreakGlass | A::BreakGlassReview => (security, None),
        A::Export => (coding(DCM, "110106", "Export"), None),
        A::Erase | A::RetentionPurge => (rest, Some(coding(RESTFUL, "delete", "delete"))),
        A::AuditPrune => (coding(DCM, "110101", "Audit Log Used"), None),
        A::UserUnlock => (
            coding(DCM, "110137", "User Security Attributes Changed"),
            None,
        ),
        A::MfaSuccess | A::MfaFailure | A::MfaRecoveryCodeUsed | A::MfaStepUp => {
            (authentication, Some(coding(DCM, "110122", "Login")))
        }
        A::LegalHoldPlace | A::LegalHoldRelease => {
            (rest, Some(coding(RESTFUL, "update", "update")))
        }
        A::MfaEnroll | A::MfaRemove | A::MfaRecoveryCodesRegenerated => (
            coding(DCM, "110137", "User Security Attributes Changed"),
            None,
        ),
        A::SecurityLockout
        | A::SecurityIpBlocked
        | A::SecurityBreachedPassword
        | A::SecurityStuffingSuspected
        | A::SecurityMfaRemoved => (security, None),
    }
}

/// HL7 v3 ActReason codes for purposeOfEvent.
fn purpose(purpose: PurposeOfUse) -> Value {
    let system = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    let (code, display) = match purpose {
        PurposeOfUse::Treatment => ("TREAT", "treatment"),
        PurposeOfUse::Payment => ("HPAYMT", "healthcare payment"),
        PurposeOfUse::Operations => ("HOPERAT", "healthcare operations"),
        PurposeOfUse::Research => ("HRESCH", "healthcare research"),
        PurposeOfUse::BreakGlass => ("ETREAT", "emergency treatment"),
    };
    json!({"coding": [coding(system, code, display)]})
}

fn agent(actor: &Actor, ip: Option<&str>) -> Value {
    let (who, roles) = match actor {
        Actor::User { id, roles } => (
            json!({"identifier": {"system": "urn:medvault:user", "value": id.to_string()}}),
            roles
                .iter()
                .map(|r| json!({"text": r.as_str()}))
                .collect::<Vec<_>>(),
        ),
        Actor::Client { id } => (
            json!({"identifier": {"system": "urn:medvault:client", "value": id}}),
            vec![],
        ),
        Actor::Anonymous => (json!({"display": "unauthenticated"}), vec![]),
        Actor::System => (json!({"display": "medvault operator"}), vec![]),
    };
    let mut agent = json!({"who": who, "requestor": true});
    if !roles.is_empty() {
        agent["role"] = Value::Array(roles);
    }
    if let Some(ip) = ip {
        // DICOM network access point type 2: an IP address.
        agent["network"] = json!({"address": ip, "type": "2"});
    }
    agent
}

/// `patients` maps audit subjects back to patients (see `super::subjects::resolve`); a
/// subject it lacks belongs to an erased patient and is shown as the pseudonym it is.
pub fn render(entry: &ChainedEntry, patients: &HashMap<String, PatientId>) -> Value {
    let event = &entry.event;
    let (kind, standard_subtype) = classify(event.action);
    let mut subtype: Vec<Value> = standard_subtype.into_iter().collect();
    subtype.push(coding(
        MEDVAULT_ACTION,
        event.action.code(),
        event.action.code(),
    ));
    let outcome = match event.outcome {
        Outcome::Success => "0",
        Outcome::Denied => "4",
        Outcome::Error => "8",
    };
    let mut entities = Vec::new();
    let known = |subject: &str| patients.get(subject).map(PatientId::to_string);
    if let Some(subject) = &event.patient {
        let what = match known(&subject.0) {
            Some(patient) => json!({"reference": format!("Patient/{patient}")}),
            None => json!({"identifier": {"system": SUBJECT, "value": subject.0}}),
        };
        entities.push(json!({
            "what": what,
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
        }));
    }
    if let Some(resource) = &event.resource {
        // A Patient resource is recorded under its subject, like the patient.
        let id = match resource.kind.as_str() {
            "Patient" => known(&resource.id).unwrap_or_else(|| resource.id.clone()),
            _ => resource.id.clone(),
        };
        entities.push(json!({"what": {"identifier": {"system": format!("urn:medvault:{}", resource.kind), "value": id}}}));
    }
    let mut resource = json!({
        "resourceType": "AuditEvent",
        "id": entry.seq.to_string(),
        "type": kind,
        "subtype": subtype,
        "action": event.action.fhir_action().to_string(),
        "recorded": crate::identity::api::views::rfc3339(event.at),
        "outcome": outcome,
        "agent": [agent(&event.actor, event.source_ip.as_deref())],
        "source": {
            "observer": {"display": "medvault"},
            "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")],
        },
        "extension": [{"url": "urn:medvault:audit-chain", "valueString": format!("seq={} hash={}", entry.seq, crate::hex::encode(&entry.hash))}],
    });
    if let Some(p) = event.purpose {
        resource["purposeOfEvent"] = json!([purpose(p)]);
    }
    if !entities.is_empty() {
        resource["entity"] = Value::Array(entities);
    }
    resource
}
