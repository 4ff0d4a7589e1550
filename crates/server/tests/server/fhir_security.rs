//! The PHI gate and encryption at rest, attacked: other patients' records, roles without
//! clinical access, raw database files, swapped ciphertexts, and bad input.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinic::Clinic;

#[tokio::test]
async fn a_patient_sees_only_their_own_compartment() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let bob = clinic.patient("Bob", "B", "1970-01-01", "male").await;
    let anns = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let bobs = clinic
        .observation(&bob, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let token = clinic.patient_user("ann@example.org", &ann).await;

    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{anns}"), &token)
            .await
            .status,
        200
    );
    assert_eq!(
        clinic
            .get(&format!("/fhir/Patient/{ann}"), &token)
            .await
            .status,
        200
    );
    // Another patient's record answers exactly like a record that does not exist.
    let theirs = clinic
        .get(&format!("/fhir/Observation/{bobs}"), &token)
        .await;
    let nobody = clinic
        .get(
            &format!("/fhir/Observation/{}", uuid::Uuid::new_v4()),
            &token,
        )
        .await;
    assert_eq!(
        (theirs.status, theirs.body.clone()),
        (nobody.status, nobody.body.clone())
    );
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{bobs}/_history/1"), &token)
            .await
            .status,
        404
    );
    assert_eq!(
        clinic
            .get(&format!("/fhir/Patient/{bob}/$everything"), &token)
            .await
            .status,
        404
    );

    assert_eq!(
        clinic
            .get("/fhir/Observation?code=2339-0", &token)
            .await
            .ids(),
        vec![anns.clone()]
    );
    assert!(clinic
        .get(&format!("/fhir/Observation?patient={bob}"), &token)
        .await
        .ids()
        .is_empty());
    assert_eq!(
        clinic.get("/fhir/Patient", &token).await.ids(),
        vec![ann.clone()]
    );
    let history = clinic.get("/fhir/Observation/_history", &token).await;
    assert_eq!(history.ids(), vec![anns.clone()]);

    let everything = clinic
        .get(&format!("/fhir/Patient/{ann}/$everything"), &token)
        .await;
    // Her Patient, her Observation, and the care team her physician registered her with.
    assert_eq!(everything.ids().len(), 3, "{}", everything.body);
    let write = clinic.post("/fhir/Observation", &token,
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": format!("Patient/{bob}")}})).await;
    assert_eq!(write.status, 403);
}

#[tokio::test]
async fn roles_without_clinical_access_get_none() {
    let clinic = Clinic::start(&[]).await;
    let hospital = clinic
        .create(json!({"resourceType": "Organization", "name": "St Elsewhere"}))
        .await;
    let ann = clinic
        .create(
            json!({"resourceType": "Patient", "name": [{"family": "Ann"}],
            "managingOrganization": {"reference": format!("Organization/{hospital}")}}),
        )
        .await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    for role in ["admin", "auditor", "researcher"] {
        let token = clinic.user(&format!("{role}@example.org"), role).await;
        // A record they may not read answers as if it did not exist; a type they may
        // never read is refused outright.
        for (path, status) in [
            (format!("/fhir/Observation/{obs}"), 404),
            ("/fhir/Observation".into(), 403),
            (format!("/fhir/Patient/{ann}/$everything"), 404),
        ] {
            let answer = clinic.get(&path, &token).await;
            assert_eq!(answer.status, status, "{role} {path}: {}", answer.body);
        }
    }
    let (_, director) = clinic
        .clinician("director@example.org", "director", Some(&hospital))
        .await;
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &director)
            .await
            .status,
        200
    );
    let write = clinic
        .call(
            Method::DELETE,
            &format!("/fhir/Observation/{obs}"),
            &director,
            None,
        )
        .await;
    assert_eq!(write.status, 403, "directors read only");
    for path in [format!("/fhir/Observation/{obs}"), "/fhir/Patient".into()] {
        let anonymous = clinic
            .realm
            .client
            .get(clinic.realm.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(anonymous.headers()["content-type"], "application/fhir+json");
    }
}

#[tokio::test]
async fn every_access_is_audited_with_its_patient_before_anything_is_returned() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    // Every FHIR route the API documents that returns records, exercised once.
    let openapi = clinic.get("/openapi.json", "").await.body;
    let mut routes: Vec<String> = openapi["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, item)| path.starts_with("/fhir/") && item.get("get").is_some())
        .map(|(path, _)| path.clone())
        // Capabilities, not records: the CapabilityStatement and SMART's configuration.
        .filter(|path| {
            ![
                "/fhir/metadata",
                "/fhir/AuditEvent",
                "/fhir/.well-known/smart-configuration",
            ]
            .contains(&path.as_str())
        })
        .collect();
    routes.sort();
    assert_eq!(routes.len(), 6, "{routes:?}");
    let mut subjects = std::collections::BTreeSet::new();
    for route in routes {
        let path = route
            .replace("/fhir/{type}/{id}", &format!("/fhir/Observation/{obs}"))
            .replace("/fhir/{type}", "/fhir/Observation")
            .replace("/fhir/Patient/{id}", &format!("/fhir/Patient/{ann}"))
            .replace("{vid}", "1");
        let before = clinic.realm.audit_events().await.len();
        let answer = clinic.get(&path, &clinic.doctor).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let events = clinic.realm.audit_events().await;
        let new: Vec<_> = events[before..]
            .iter()
            .filter(|e| e.action.code().starts_with("fhir."))
            .collect();
        assert!(!new.is_empty(), "{path} recorded its access");
        for event in new {
            let subject = event.patient.clone().expect("the event names the patient");
            subjects.insert(subject.0);
        }
    }
    // Every access names the same patient, by a pseudonym, never by the id.
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(!subjects.contains(&ann));
}

#[tokio::test]
async fn records_are_unreadable_in_the_database_files() {
    let clinic = Clinic::start(&[]).await;
    let (marker_name, marker_note) = ("Zyxwvutsrq-Quimby", "marker-note-8f3a1c");
    let ann = clinic
        .patient(marker_name, "Ann", "1980-01-01", "female")
        .await;
    clinic
        .create(
            json!({"resourceType": "Observation", "status": "final", "code": {"text": marker_note},
        "subject": {"reference": format!("Patient/{ann}")}, "valueString": marker_note}),
        )
        .await;
    // A searchable value is indexed, not stored: the search works...
    assert_eq!(
        clinic
            .get(
                &format!("/fhir/Patient?family={marker_name}"),
                &clinic.doctor
            )
            .await
            .ids(),
        vec![ann.clone()]
    );
    // ...while neither the database file nor its write-ahead log holds the values.
    let dir = clinic.realm.temp.path();
    let mut scanned = 0;
    for file in ["medvault.db", "medvault.db-wal"] {
        let Ok(bytes) = std::fs::read(dir.join(file)) else {
            continue;
        };
        scanned += bytes.len();
        for marker in [marker_name, &marker_name.to_lowercase(), marker_note] {
            assert!(
                !contains(&bytes, marker.as_bytes()),
                "{marker} found in {file}"
            );
        }
    }
    assert!(scanned > 0, "the database files exist");
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn a_ciphertext_moved_onto_another_record_fails_closed() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let first = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let second = clinic.create(json!({"resourceType": "Observation", "status": "final", "code": {"text": "secret-result"},
        "subject": {"reference": format!("Patient/{ann}")}})).await;
    // An insider with database access copies one row's body over another's.
    clinic.realm.sql(&[&format!(
        "UPDATE fhir_versions SET body = (SELECT body FROM fhir_versions WHERE id = '{second}') WHERE id = '{first}'"
    )]).await;
    let read = clinic
        .get(&format!("/fhir/Observation/{first}"), &clinic.doctor)
        .await;
    assert_eq!(read.status, 500);
    assert!(read.diagnostics().contains("integrity"), "{}", read.body);
    assert!(!read.body.to_string().contains("secret-result"));
    let search = clinic
        .get(&format!("/fhir/Observation?patient={ann}"), &clinic.doctor)
        .await;
    assert_eq!(search.status, 500, "a search fails closed too");
    let events = clinic.realm.audit_events().await;
    assert!(events
        .iter()
        .any(|e| e.action.code() == "fhir.read" && e.outcome.code() == "error"));
    // The untouched record still reads.
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{second}"), &clinic.doctor)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn bad_input_gets_an_operation_outcome_and_writes_nothing() {
    let clinic = Clinic::start(&["--fhir-max-body-bytes", "4096"]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let send = |content_type: &'static str, body: String| {
        let request = clinic
            .realm
            .client
            .post(clinic.realm.url("/fhir/Observation"))
            .bearer_auth(&clinic.doctor)
            .header("content-type", content_type)
            .body(body);
        async move { Clinic::answer(request.send().await.unwrap()).await }
    };
    let valid = |extra: Value| {
        let mut obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": format!("Patient/{ann}")}});
        obs.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        obs.to_string()
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "application/fhir+json",
            "{\"resourceType\": \"Observation\",".into(),
            400,
            "not valid JSON",
        ),
        (
            "application/fhir+xml",
            "<Observation/>".into(),
            415,
            "application/fhir+json",
        ),
        (
            "application/fhir+json",
            json!({"resourceType": "Patient"}).to_string(),
            400,
            "Observation.resourceType",
        ),
        (
            "application/fhir+json",
            valid(
                json!({"encounter": {"reference": format!("Encounter/{}", uuid::Uuid::new_v4())}}),
            ),
            422,
            "Observation.encounter.reference",
        ),
        (
            "application/fhir+json",
            valid(json!({"subject": {"reference": "Patient/not-there"}})),
            422,
            "Observation.subject",
        ),
        (
            "application/fhir+json",
            valid(json!({"effectiveDateTime": "yesterday"})),
            400,
            "Observation.effectiveDateTime",
        ),
        (
            "application/fhir+json",
            valid(json!({"valueString": "x".repeat(5000)})),
            413,
            "limit",
        ),
    ];
    for (content_type, body, status, words) in cases {
        let answer = send(content_type, body).await;
        assert_eq!(answer.status, status, "{words}: {}", answer.body);
        assert!(
            answer.diagnostics().contains(words),
            "{words}: {}",
            answer.diagnostics()
        );
    }
    let stored = clinic
        .get(&format!("/fhir/Observation?patient={ann}"), &clinic.doctor)
        .await;
    assert!(stored.ids().is_empty());
}

#[tokio::test]
async fn tokens_name_the_fhir_resource_that_is_the_user() {
    let clinic = Clinic::start(&[]).await;
    let practitioner = clinic
        .create(json!({"resourceType": "Practitioner", "name": [{"family": "Grey"}]}))
        .await;
    let args = [
        "user",
        "add",
        "--email",
        "grey@example.org",
        "--role",
        "physician",
        "--practitioner",
        &practitioner,
        "--password-stdin",
    ];
    let (ok, _, stderr) = clinic.realm.run_cli(&args, crate::realm::PASSWORD);
    assert!(ok, "{stderr}");
    let (token, _) = clinic.realm.tokens("grey@example.org").await;
    let claims = crate::realm::claims_of(&token);
    assert_eq!(claims["fhirUser"], format!("Practitioner/{practitioner}"));

    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let patient_token = clinic.patient_user("ann@example.org", &ann).await;
    let claims = crate::realm::claims_of(&patient_token);
    assert_eq!(claims["fhirUser"], format!("Patient/{ann}"));
    assert_eq!(claims["patient"], ann);

    // One Practitioner is one person: a second account cannot claim it.
    let again = [
        "user",
        "add",
        "--email",
        "other@example.org",
        "--role",
        "nurse",
        "--practitioner",
        &practitioner,
    ];
    let (ok, _, stderr) = clinic.realm.run_cli(&again, "");
    assert!(!ok);
    assert!(
        stderr.contains("practitioner_id already exists"),
        "{stderr}"
    );
}
