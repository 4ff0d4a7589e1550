//! Research exports (issue #6): de-identified by HIPAA Safe Harbor, consenting patients
//! only. The test plants identifiers everywhere a clinician might type them and searches
//! the export for each.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinic::Clinic;

const PLANTED: &[&str] = &[
    "Zelda",
    "Quixote",
    "867-5309",
    "zelda.quixote@example.org",
    "742 Evergreen",
    "Springfield",
    "49007",
    "MRN-99887766",
    "1980-04-02",
    "Uniquename",
    "Dr Seuss",
    "https://photos.example.org",
    "LOT-7777-ZQ",
    "Edgeless",
];

async fn export(clinic: &Clinic, token: &str) -> (u16, String, Vec<Value>) {
    let response = clinic.realm.get("/api/v1/research/export", token).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap();
    let lines = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (status, content_type, lines)
}

fn research_consent(patient: &str) -> Value {
    json!({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "57016-8"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "provision": {"type": "permit", "purpose": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}})
}

#[tokio::test]
async fn researchers_get_consenting_patients_de_identified_and_nothing_that_names_anyone() {
    let clinic = Clinic::start(&[]).await;
    let hospital = clinic
        .create(json!({"resourceType": "Organization", "name": "St Elsewhere"}))
        .await;
    let ann = clinic
        .create(json!({"resourceType": "Patient",
            "identifier": [{"system": "urn:mrn", "value": "MRN-99887766"}],
            "name": [{"family": "Quixote", "given": ["Zelda"]}],
            "telecom": [{"system": "phone", "value": "+1-555-867-5309"},
                        {"system": "email", "value": "zelda.quixote@example.org"}],
            "address": [{"line": ["742 Evergreen Terrace"], "city": "Springfield", "postalCode": "49007"}],
            "photo": [{"url": "https://photos.example.org/zelda.jpg"}],
            "gender": "female", "birthDate": "1980-04-02",
            "managingOrganization": {"reference": format!("Organization/{hospital}"), "display": "St Elsewhere"}}))
        .await;
    let subject = json!({"reference": format!("Patient/{ann}"), "display": "Zelda Quixote"});
    let by = json!({"reference": format!("Practitioner/{}", clinic.practitioner), "display": "Dr Seuss"});
    clinic
        .create(json!({"resourceType": "Observation", "status": "final",
            "identifier": [{"system": "urn:lab", "value": "MRN-99887766-obs"}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}], "text": "glucose for Zelda Quixote"},
            "subject": subject, "performer": [by], "effectiveDateTime": "2024-03-01T10:00:00Z",
            "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
            "note": [{"text": "Zelda asked us to call 867-5309"}]}))
        .await;
    clinic
        .create(json!({"resourceType": "Condition",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}], "text": "diabetes (Zelda)"},
            "subject": subject, "recordedDate": "1980-04-02"}))
        .await;
    clinic
        .create(json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]},
            "subject": subject, "requester": by,
            "dosageInstruction": [{"text": "Zelda: one tablet, call 867-5309 if dizzy"}]}))
        .await;
    clinic
        .create(
            json!({"resourceType": "Communication", "status": "completed", "subject": subject,
            "payload": [{"contentString": "Zelda Quixote, 742 Evergreen Terrace"}]}),
        )
        .await;
    clinic
        .create(
            json!({"resourceType": "Immunization", "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
            "patient": subject, "occurrenceDateTime": "2021-05-01", "lotNumber": "LOT-7777-ZQ"}),
        )
        .await;
    let bob = clinic
        .patient("Uniquename", "Bob", "1970-01-01", "male")
        .await;
    clinic
        .observation(&bob, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let carl = clinic.patient("Elder", "Carl", "1921-06-01", "male").await;

    // Ann and Carl consent to research; Bob does not.
    let ann_token = clinic.patient_user("ann@example.org", &ann).await;
    let given = clinic
        .post("/fhir/Consent", &ann_token, research_consent(&ann))
        .await;
    assert_eq!(given.status, 201, "{}", given.body);
    let ann_consent = given.body["id"].as_str().unwrap().to_owned();
    clinic.create(research_consent(&carl)).await;
    // Dora consents to research but not on her prescriptions; Ed's consent names no
    // purpose, which is not a research consent.
    let dora = clinic.patient("Dora", "D", "1975-01-01", "other").await;
    clinic
        .create(json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]},
            "subject": {"reference": format!("Patient/{dora}")}}))
        .await;
    let mut partial = research_consent(&dora);
    partial["provision"]["provision"] = json!([{"type": "deny",
        "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "MedicationRequest"}]}]);
    clinic.create(partial).await;
    let ed = clinic
        .patient("Edgeless", "E", "1960-01-01", "unknown")
        .await;
    let mut generic = research_consent(&ed);
    generic["provision"] = json!({"type": "permit"});
    clinic.create(generic).await;

    let researcher = clinic.user("researcher@example.org", "researcher").await;
    let (status, content_type, lines) = export(&clinic, &researcher).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/fhir+ndjson");
    let text = lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted:?} leaked:\n{text}");
    }
    for id in [&ann, &bob, &carl, &hospital, &clinic.practitioner] {
        assert!(!text.contains(id.as_str()), "a real id leaked: {id}");
    }
    let patients: Vec<&Value> = lines
        .iter()
        .filter(|r| r["resourceType"] == "Patient")
        .collect();
    assert_eq!(patients.len(), 3, "Ann, Carl and Dora only: {text}");
    assert!(
        patients.iter().all(|p| p["gender"] != "unknown"),
        "not Ed: {text}"
    );
    let medications = lines
        .iter()
        .filter(|r| r["resourceType"] == "MedicationRequest")
        .count();
    assert_eq!(medications, 1, "Ann's, not Dora's: {text}");
    let zelda = patients.iter().find(|p| p["gender"] == "female").unwrap();
    assert_eq!(zelda["birthDate"], "1980");
    let carl_out = patients.iter().find(|p| p["gender"] == "male").unwrap();
    assert!(carl_out.get("birthDate").is_none(), "over 89: {carl_out}");
    let pseudonym = zelda["id"].as_str().unwrap().to_owned();
    let observation = lines
        .iter()
        .find(|r| r["resourceType"] == "Observation")
        .unwrap();
    assert_eq!(
        observation["subject"]["reference"],
        format!("Patient/{pseudonym}")
    );
    assert_eq!(observation["effectiveDateTime"], "2024");
    assert_eq!(observation["valueQuantity"]["value"], 5.4);
    assert!(lines.iter().all(|r| r["resourceType"] != "Communication"));

    // Pseudonyms are stable from one export to the next.
    let (_, _, again) = export(&clinic, &researcher).await;
    assert!(again.iter().any(|r| r["id"] == pseudonym.as_str()));

    // Audited as exports for research, naming the policy.
    let events = clinic.realm.audit_events().await;
    let exports: Vec<_> = events
        .iter()
        .filter(|e| e.action.code() == "export" && e.purpose.map(|p| p.code()) == Some("research"))
        .collect();
    assert!(!exports.is_empty());
    assert!(exports
        .iter()
        .all(|e| e.policy.as_deref() == Some("researcher-exports-consented-patients")));

    // Withdrawn: Ann leaves the next export. Nobody but researchers gets one.
    let withdrawn = clinic
        .call(
            Method::DELETE,
            &format!("/api/v1/me/consents/{ann_consent}"),
            &ann_token,
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 204);
    let (_, _, after) = export(&clinic, &researcher).await;
    assert_eq!(
        after
            .iter()
            .filter(|r| r["resourceType"] == "Patient")
            .count(),
        2
    );
    assert!(after.iter().all(|r| r["id"] != pseudonym.as_str()));
    for token in [&clinic.doctor, &ann_token, &clinic.registrar] {
        assert_eq!(export(&clinic, token).await.0, 403);
    }
}
