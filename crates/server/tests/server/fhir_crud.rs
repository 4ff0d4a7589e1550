//! Create, read, versioned update, logical delete and history through `/fhir`.

use reqwest::Method;
use serde_json::json;

use crate::clinic::Clinic;

#[tokio::test]
async fn a_patient_record_lives_through_versions_and_deletion() {
    let clinic = Clinic::start(&[]).await;
    let doctor = &clinic.doctor;
    let created = clinic
        .post("/fhir/Patient", doctor, json!({"resourceType": "Patient", "id": "chosen-by-client", "name": [{"family": "Okafor"}]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_ne!(id, "chosen-by-client", "the server assigns ids");
    assert_eq!(created.header("etag"), "W/\"1\"");
    assert!(created
        .header("location")
        .ends_with(&format!("/fhir/Patient/{id}/_history/1")));
    assert_eq!(created.body["meta"]["versionId"], "1");
    assert!(created
        .header("content-type")
        .starts_with("application/fhir+json"));

    let read = clinic.get(&format!("/fhir/Patient/{id}"), doctor).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["name"][0]["family"], "Okafor");
    assert!(!read.header("last-modified").is_empty());

    let path = format!("/fhir/Patient/{id}");
    let v2 = json!({"resourceType": "Patient", "id": id, "name": [{"family": "Okafor-Bello"}]});
    let put = |if_match: &'static str, body: serde_json::Value| {
        let request = clinic
            .realm
            .client
            .put(clinic.realm.url(&path))
            .bearer_auth(doctor)
            .header("content-type", "application/fhir+json")
            .header("if-match", if_match)
            .body(body.to_string());
        async move { Clinic::answer(request.send().await.unwrap()).await }
    };
    let updated = put("W/\"1\"", v2.clone()).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.header("etag"), "W/\"2\"");
    let stale = put("W/\"1\"", v2.clone()).await;
    assert_eq!(stale.status, 412, "a lost update is refused");
    assert!(stale.diagnostics().contains("current version is 2"));

    let mismatched = put(
        "W/\"2\"",
        json!({"resourceType": "Patient", "id": "other", "name": [{"family": "X"}]}),
    )
    .await;
    assert_eq!(mismatched.status, 400);
    assert!(mismatched.diagnostics().contains("Patient.id"));

    let v1 = clinic
        .get(&format!("/fhir/Patient/{id}/_history/1"), doctor)
        .await;
    assert_eq!(
        (v1.status, v1.body["name"][0]["family"].as_str()),
        (200, Some("Okafor"))
    );
    let missing_version = clinic
        .get(&format!("/fhir/Patient/{id}/_history/9"), doctor)
        .await;
    assert_eq!(missing_version.status, 404);

    let deleted = clinic.call(Method::DELETE, &path, doctor, None).await;
    assert_eq!(deleted.status, 204);
    let gone = clinic.get(&path, doctor).await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.body["resourceType"], "OperationOutcome");
    let again = clinic.call(Method::DELETE, &path, doctor, None).await;
    assert_eq!(again.status, 204, "deleting twice changes nothing");

    let history = clinic
        .get(&format!("/fhir/Patient/{id}/_history"), doctor)
        .await;
    assert_eq!(history.body["type"], "history");
    let methods: Vec<&str> = history.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"], "newest first");
    let type_history = clinic.get("/fhir/Patient/_history?_count=2", doctor).await;
    assert_eq!(type_history.body["entry"].as_array().unwrap().len(), 2);
    let rest = clinic
        .get(&type_history.next_link().expect("a next page"), doctor)
        .await;
    assert_eq!(rest.body["entry"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn updates_never_create_and_cannot_move_a_record_to_another_patient() {
    let clinic = Clinic::start(&[]).await;
    let (ann, bob) = (
        clinic.patient("Ann", "A", "1980-01-01", "female").await,
        clinic.patient("Bob", "B", "1970-01-01", "male").await,
    );
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let mut body = clinic
        .get(&format!("/fhir/Observation/{obs}"), &clinic.doctor)
        .await
        .body;
    body["subject"]["reference"] = json!(format!("Patient/{bob}"));
    let moved = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{obs}"),
            &clinic.doctor,
            Some(body.clone()),
        )
        .await;
    assert_eq!(moved.status, 422);
    assert!(moved.diagnostics().contains("Observation.subject"));

    body["id"] = json!("never-created");
    let unknown = clinic
        .call(
            Method::PUT,
            "/fhir/Observation/never-created",
            &clinic.doctor,
            Some(body),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn every_stored_type_round_trips() {
    let clinic = Clinic::start(&[]).await;
    let patient = clinic.patient("Diaz", "Rosa", "1990-05-05", "female").await;
    let practitioner = clinic
        .create(json!({"resourceType": "Practitioner", "name": [{"family": "House"}]}))
        .await;
    let organization = clinic
        .create(json!({"resourceType": "Organization", "name": "St Elsewhere"}))
        .await;
    let subject = json!({"reference": format!("Patient/{patient}")});
    let doc = json!({"reference": format!("Practitioner/{practitioner}")});
    let encounter = clinic.create(json!({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject, "period": {"start": "2024-01-01T09:00:00Z", "end": "2024-01-01T10:00:00Z"},
        "serviceProvider": {"reference": format!("Organization/{organization}")}})).await;
    let resources = [
        json!({"resourceType": "Condition", "subject": subject, "code": {"text": "asthma"}, "recordedDate": "2024-01-01",
               "encounter": {"reference": format!("Encounter/{encounter}")}}),
        json!({"resourceType": "AllergyIntolerance", "patient": subject, "code": {"text": "penicillin"},
               "reaction": [{"manifestation": [{"text": "hives"}]}]}),
        json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
               "medicationCodeableConcept": {"text": "salbutamol"}, "requester": doc,
               "dosageInstruction": [{"text": "2 puffs", "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}}}]}),
        json!({"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "MMR"}, "patient": subject,
               "occurrenceDateTime": "2020-02-02", "performer": [{"actor": doc}]}),
        json!({"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "CBC"}, "subject": subject,
               "effectiveDateTime": "2024-01-01T09:30:00Z"}),
        json!({"resourceType": "DocumentReference", "status": "current", "subject": subject,
               "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}]}),
        json!({"resourceType": "CareTeam", "status": "active", "subject": subject, "participant": [{"member": doc}]}),
        json!({"resourceType": "Consent", "status": "active", "scope": {"text": "patient-privacy"},
               "category": [{"text": "treatment"}], "patient": subject,
               "provision": {"type": "permit", "actor": [{"role": {"text": "primary"}, "reference": doc}]}}),
        json!({"resourceType": "Communication", "status": "completed", "subject": subject, "sender": doc,
               "payload": [{"contentString": "Your results are in."}], "sent": "2024-01-02T08:00:00Z"}),
    ];
    for resource in resources {
        let t = resource["resourceType"].as_str().unwrap().to_owned();
        let id = clinic.create(resource.clone()).await;
        let read = clinic.get(&format!("/fhir/{t}/{id}"), &clinic.doctor).await;
        assert_eq!(read.status, 200, "{t}");
        for (key, value) in resource.as_object().unwrap() {
            assert_eq!(&read.body[key], value, "{t}.{key} round-trips");
        }
    }
}
