//! GDPR access and portability: a patient's export holds every version of their records
//! and who accessed them, and nothing of anyone else.

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinic::Clinic;

#[tokio::test]
async fn a_patients_export_holds_all_their_versions_and_accesses_and_no_one_elses() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let bob = clinic.patient("Bobmarker", "B", "1970-01-01", "male").await;
    let kept = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let gone = clinic
        .observation(&ann, "8867-4", "2024-03-02T10:00:00Z", "final")
        .await;
    clinic
        .observation(&bob, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let mut body = clinic
        .get(&format!("/fhir/Observation/{kept}"), &clinic.doctor)
        .await
        .body;
    body["status"] = json!("amended");
    let updated = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{kept}"),
            &clinic.doctor,
            Some(body),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        clinic
            .call(
                Method::DELETE,
                &format!("/fhir/Observation/{gone}"),
                &clinic.doctor,
                None
            )
            .await
            .status,
        204
    );
    let token = clinic.patient_user("ann@example.org", &ann).await;

    let response = clinic.realm.get("/api/v1/me/export", &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"export"));
    assert_eq!(kinds.last(), Some(&"processing"));
    assert!(
        kinds.contains(&"profile") && kinds.contains(&"session"),
        "{kinds:?}"
    );

    let versions: Vec<(String, u64, bool)> = lines
        .iter()
        .filter(|l| l["kind"] == "resource")
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["version"].as_u64().unwrap(),
                l["deleted"].as_bool().unwrap(),
            )
        })
        .collect();
    for expected in [
        (kept.clone(), 1, false),
        (kept.clone(), 2, false),
        (gone.clone(), 1, false),
        (gone.clone(), 2, true),
        (ann.clone(), 1, false),
    ] {
        assert!(versions.contains(&expected), "{expected:?} in {versions:?}");
    }
    let amended = lines
        .iter()
        .find(|l| l["id"] == kept.as_str() && l["version"] == 2)
        .unwrap();
    assert_eq!(amended["resource"]["status"], "amended");
    let accesses: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "access").collect();
    assert!(
        accesses.iter().any(|a| a["access"]["action"] == "fhir.read"
            && a["access"]["who"]["roles"] == json!(["physician"])),
        "{accesses:?}"
    );
    assert!(
        !text.contains(&bob) && !text.contains("Bobmarker"),
        "another patient's data leaked"
    );

    let actions = clinic.realm.audit_actions().await;
    assert!(actions.contains(&"export"), "{actions:?}");
}

#[tokio::test]
async fn a_patient_withdraws_consent_in_one_call_and_it_shows_at_once() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let bob = clinic.patient("Bob", "B", "1970-01-01", "male").await;
    let token = clinic.patient_user("ann@example.org", &ann).await;
    let consent = |patient: &str| {
        json!({"resourceType": "Consent", "status": "active",
        "scope": {"text": "patient-privacy"}, "category": [{"text": "research"}],
        "patient": {"reference": format!("Patient/{patient}")},
        "provision": {"type": "permit", "purpose": [{"code": "HRESCH"}]}})
    };
    // Patients write their own consents...
    let given = clinic.post("/fhir/Consent", &token, consent(&ann)).await;
    assert_eq!(given.status, 201, "{}", given.body);
    let id = given.body["id"].as_str().unwrap().to_owned();
    // ...and nobody else's.
    assert_eq!(
        clinic
            .post("/fhir/Consent", &token, consent(&bob))
            .await
            .status,
        403
    );
    let bobs = clinic.create(consent(&bob)).await;

    let listed: Value = clinic
        .realm
        .get("/api/v1/me/consents", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["consents"].as_array().unwrap().len(), 1);
    assert_eq!(listed["consents"][0]["status"], "active");

    let withdraw = |id: String| {
        let request = clinic
            .realm
            .client
            .delete(clinic.realm.url(&format!("/api/v1/me/consents/{id}")))
            .bearer_auth(&token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(withdraw(id.clone()).await, 204);
    assert_eq!(
        withdraw(id.clone()).await,
        204,
        "withdrawing twice changes nothing"
    );
    assert_eq!(
        withdraw(bobs).await,
        404,
        "another patient's consent is not the caller's"
    );

    let listed: Value = clinic
        .realm
        .get("/api/v1/me/consents", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["consents"][0]["status"], "inactive");
    let history = clinic
        .get(&format!("/fhir/Consent/{id}/_history"), &clinic.doctor)
        .await;
    assert_eq!(
        history.body["entry"].as_array().unwrap().len(),
        2,
        "given, then withdrawn"
    );
    assert!(clinic
        .realm
        .audit_actions()
        .await
        .contains(&"consent.change"));
}

#[tokio::test]
async fn the_record_of_processing_is_written_from_the_live_configuration() {
    let clinic = Clinic::start(&[]).await;
    clinic.realm.add_user("root@example.org", &["admin"]);
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    clinic.patient_user("ann@example.org", &ann).await;
    let (ok, report, stderr) = clinic.realm.run_cli(
        &[
            "privacy",
            "report",
            "--security-webhook-url",
            "https://siem.example.org/hook",
            "--session-idle-secs",
            "600",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    assert!(
        report.starts_with("# Record of processing activities (GDPR Art. 30)"),
        "{report}"
    );
    assert!(
        report.contains("1 patient, 0 nurse, 1 physician") && report.contains("2 admin"),
        "{report}"
    );
    assert!(report.contains("https://siem.example.org/hook"), "{report}");
    assert!(report.contains("600 s idle"), "{report}");
    assert!(
        report.contains("2191 days") || report.contains("2190 days"),
        "the default 6-year audit retention: {report}"
    );
    assert!(
        report.contains("Second factors required for: no role"),
        "the realm's own policy: {report}"
    );
    assert!(!report.contains("Ann"), "no personal data in the report");
}

#[tokio::test]
async fn an_export_needs_a_fresh_second_factor_when_the_user_has_one() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let token = clinic.patient_user("ann@example.org", &ann).await;
    assert_eq!(
        clinic.realm.get("/api/v1/me/export", &token).await.status(),
        200
    );
    // Once a factor exists, a token without a recent one cannot export.
    let started: Value = clinic
        .realm
        .client
        .post(clinic.realm.url("/api/v1/me/mfa/totp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(started["secret"].is_string());
    let store = clinic.realm.store().await;
    let user = store
        .user_by_email(&"ann@example.org".parse().unwrap())
        .await
        .unwrap();
    // Confirm the factor directly in storage: this test is about the export's demand.
    store
        .confirm_totp(user.id, 1, medvault_domain::UnixMillis(1), &[])
        .await
        .unwrap();
    store.close().await;
    let refused = clinic.realm.get("/api/v1/me/export", &token).await;
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("insufficient_user_authentication"),
        "{challenge}"
    );
}

/// Data minimisation: elements configured as never stored are stripped on every write,
/// and exist nowhere at rest.
#[tokio::test]
async fn never_stored_elements_are_stripped_on_write() {
    let clinic = Clinic::start(&[
        "--never-store",
        "Patient.photo,Patient.contact.telecom,Observation.note",
    ])
    .await;
    let marker = "never-stored-marker-7c1e";
    let ann = clinic
        .create(json!({"resourceType": "Patient", "name": [{"family": "Minimal"}],
            "photo": [{"contentType": "image/png", "data": "bmV2ZXItc3RvcmVk", "title": marker}],
            "contact": [{"name": {"text": "Kin"}, "telecom": [{"system": "phone", "value": marker}]}]}))
        .await;
    let obs = clinic
        .create(
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "note test"},
            "subject": {"reference": format!("Patient/{ann}")}, "note": [{"text": marker}]}),
        )
        .await;
    let patient = clinic
        .get(&format!("/fhir/Patient/{ann}"), &clinic.doctor)
        .await
        .body;
    assert!(patient.get("photo").is_none(), "{patient}");
    assert_eq!(patient["contact"], json!([{"name": {"text": "Kin"}}]));
    let observation = clinic
        .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
        .await
        .body;
    assert!(observation.get("note").is_none(), "{observation}");
    assert_eq!(observation["code"]["text"], "note test");

    // An update cannot bring them back.
    let mut body = observation.clone();
    body["note"] = json!([{"text": marker}]);
    let updated = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{obs}"),
            &clinic.doctor,
            Some(body),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let reread = clinic
        .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
        .await
        .body;
    assert_eq!(reread["meta"]["versionId"], "2");
    assert!(reread.get("note").is_none(), "{reread}");

    // The report names them.
    let (ok, report, stderr) = clinic.realm.run_cli(
        &[
            "privacy",
            "report",
            "--never-store",
            "Patient.photo,Patient.contact.telecom,Observation.note",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    assert!(
        report.contains("Patient.photo, Patient.contact.telecom, Observation.note"),
        "{report}"
    );
}

#[tokio::test]
async fn a_never_stored_element_the_records_need_is_refused_at_start() {
    let realm_dir = tempfile::tempdir().unwrap();
    for (bad, why) in [
        ("Observation.status", "required in FHIR R4"),
        ("Observation.subject", "patient's compartment"),
        ("Patient.nonsense", "not an element"),
    ] {
        let mut command = crate::support::medvault(realm_dir.path());
        command.args(["serve", "--never-store", bad]);
        let output = crate::support::run_to_exit(command);
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(why), "{bad}: {stderr}");
    }
}

/// Rectification (GDPR Art. 16): a correction is a new version, the history keeps the
/// old one, and each version names who wrote it; a patient asks for a correction with a
/// Communication to their care team.
#[tokio::test]
async fn corrections_keep_history_with_their_authors_and_patients_can_request_them() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Annrect", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let practitioner = clinic
        .create(json!({"resourceType": "Practitioner", "name": [{"family": "Second"}]}))
        .await;
    let args = [
        "user",
        "add",
        "--email",
        "second@example.org",
        "--role",
        "physician",
        "--practitioner",
        &practitioner,
        "--password-stdin",
    ];
    let (ok, _, stderr) = clinic.realm.run_cli(&args, crate::realm::PASSWORD);
    assert!(ok, "{stderr}");
    let second = clinic.realm.tokens("second@example.org").await.0;
    // A colleague joins Ann's care team.
    clinic
        .create(json!({"resourceType": "CareTeam", "status": "active",
            "subject": {"reference": format!("Patient/{ann}")},
            "participant": [{"member": {"reference": format!("Practitioner/{practitioner}")}}]}))
        .await;
    let first_id = clinic_me(&clinic, &clinic.doctor).await["id"].clone();
    let second_id = clinic_me(&clinic, &second).await["id"].clone();

    let mut body = clinic
        .get(&format!("/fhir/Observation/{obs}"), &second)
        .await
        .body;
    body["valueQuantity"]["value"] = json!(6.1);
    let corrected = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{obs}"),
            &second,
            Some(body),
        )
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.body);

    let history = clinic
        .get(&format!("/fhir/Observation/{obs}/_history"), &clinic.doctor)
        .await;
    let authors: Vec<(String, f64, Value)> = history.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let r = &e["resource"];
            let author = r["meta"]["extension"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| {
                    x["url"] == "https://medvault.dev/fhir/StructureDefinition/version-author"
                })
                .unwrap()["valueReference"]
                .clone();
            (
                r["meta"]["versionId"].as_str().unwrap().to_owned(),
                r["valueQuantity"]["value"].as_f64().unwrap(),
                author,
            )
        })
        .collect();
    assert_eq!(authors.len(), 2);
    assert_eq!((authors[0].0.as_str(), authors[0].1), ("2", 6.1));
    assert_eq!(authors[0].2["identifier"]["value"], second_id);
    assert_eq!(
        authors[0].2["reference"],
        format!("Practitioner/{practitioner}")
    );
    assert_eq!((authors[1].0.as_str(), authors[1].1), ("1", 5.4));
    assert_eq!(authors[1].2["identifier"]["value"], first_id);

    // Ann asks her clinician to correct the value.
    let token = clinic.patient_user("ann@example.org", &ann).await;
    let request = clinic
        .post(
            "/fhir/Communication",
            &token,
            json!({"resourceType": "Communication", "status": "completed",
                "subject": {"reference": format!("Patient/{ann}")},
                "recipient": [{"reference": format!("Practitioner/{practitioner}")}],
                "about": [{"reference": format!("Observation/{obs}")}],
                "payload": [{"contentString": "Please correct: I measured 5.9"}]}),
        )
        .await;
    assert_eq!(request.status, 201, "{}", request.body);
    let seen = clinic
        .get(
            &format!("/fhir/Communication?subject=Patient/{ann}"),
            &second,
        )
        .await;
    assert_eq!(seen.ids().len(), 1);
    assert_eq!(
        seen.body["entry"][0]["resource"]["meta"]["extension"][0]["valueReference"]["reference"],
        format!("Patient/{ann}"),
        "the request names the patient as its author"
    );
}

async fn clinic_me(clinic: &Clinic, token: &str) -> Value {
    clinic
        .realm
        .get("/api/v1/me", token)
        .await
        .json()
        .await
        .unwrap()
}

/// An operator exports a patient's data on their behalf (an access request received by
/// the privacy officer): the same export, from the CLI, audited as the system's.
#[tokio::test]
async fn an_operator_exports_a_patients_data_at_the_cli() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic
        .patient("Annexport", "A", "1980-01-01", "female")
        .await;
    let bob = clinic.patient("Bobexport", "B", "1970-01-01", "male").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let bob_obs = clinic
        .observation(&bob, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    clinic.patient_user("ann@example.org", &ann).await;
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
            .await
            .status,
        200
    );

    let (ok, stdout, stderr) = clinic
        .realm
        .run_cli(&["privacy", "export", "--patient", &ann], "");
    assert!(ok, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "export");
    assert_eq!(lines[0]["patient"], ann.as_str());
    assert_eq!(lines.last().unwrap()["kind"], "processing");
    let profile = lines.iter().find(|l| l["kind"] == "profile").unwrap();
    assert_eq!(profile["user"]["email"], "ann@example.org");
    let resources: Vec<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "resource")
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert!(resources.contains(&obs.as_str()) && resources.contains(&ann.as_str()));
    assert!(
        !stdout.contains(&bob) && !stdout.contains(&bob_obs),
        "nothing of Bob's"
    );
    assert!(
        lines.iter().any(|l| l["kind"] == "access"),
        "the physician's read is listed"
    );
    let exports: Vec<_> = clinic
        .realm
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.action.code() == "export")
        .collect();
    assert!(exports
        .iter()
        .any(|e| e.actor == medvault_domain::Actor::System));

    let nobody = uuid::Uuid::new_v4().to_string();
    let (ok, _, stderr) = clinic
        .realm
        .run_cli(&["privacy", "export", "--patient", &nobody], "");
    assert!(!ok && stderr.contains("no such patient"), "{stderr}");
}
