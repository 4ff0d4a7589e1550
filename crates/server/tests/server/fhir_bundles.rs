//! Batch and transaction Bundles: a transaction is all or nothing.

use serde_json::{json, Value};

use crate::clinic::Clinic;

fn entry(full_url: &str, resource: Value) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_owned();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": t}})
}

fn observation(subject: &str, code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final", "code": {"text": code}, "subject": {"reference": subject}})
}

#[tokio::test]
async fn a_transaction_creates_a_patient_and_records_that_refer_to_it() {
    let clinic = Clinic::start(&[]).await;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", json!({"resourceType": "Patient", "name": [{"family": "Tx"}]})),
        entry("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", observation("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "weight")),
    ]});
    let answer = clinic.post("/fhir", &clinic.doctor, bundle).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["type"], "transaction-response");
    let entries = answer.body["entry"].as_array().unwrap();
    assert!(entries
        .iter()
        .all(|e| e["response"]["status"].as_str().unwrap().starts_with("201")));
    let patient = entries[0]["resource"]["id"].as_str().unwrap();
    assert_eq!(
        entries[1]["resource"]["subject"]["reference"],
        format!("Patient/{patient}")
    );
    let found = clinic
        .get(
            &format!("/fhir/Observation?patient={patient}"),
            &clinic.doctor,
        )
        .await;
    assert_eq!(found.ids().len(), 1);

    // Entry order does not matter: a record may come before the Patient it refers to.
    let reversed = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("urn:uuid:b", observation("urn:uuid:a", "height")),
        entry("urn:uuid:a", json!({"resourceType": "Patient", "name": [{"family": "Later"}]})),
    ]});
    let answer = clinic.post("/fhir", &clinic.doctor, reversed).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let observation_id = answer.body["entry"][0]["resource"]["id"].as_str().unwrap();
    let read = clinic
        .get(
            &format!("/fhir/Observation/{observation_id}"),
            &clinic.doctor,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
}

#[tokio::test]
async fn a_transaction_with_one_bad_entry_writes_nothing() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let subject = format!("Patient/{ann}");
    for bad in [
        json!({"resourceType": "Observation", "status": "final", "subject": {"reference": subject}}),
        observation(
            &format!("Patient/{}", uuid::Uuid::new_v4()),
            "missing patient",
        ),
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": subject}, "valueFoo": 1}),
    ] {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry("urn:uuid:1", observation(&subject, "good one")),
            entry("urn:uuid:2", bad),
        ]});
        let answer = clinic.post("/fhir", &clinic.doctor, bundle).await;
        // A patient that does not exist is refused exactly like one the physician does
        // not treat (403): the answer must not tell which.
        assert!([400, 403, 422].contains(&answer.status), "{}", answer.body);
        assert!(
            answer.diagnostics().starts_with("Bundle.entry[1]"),
            "{}",
            answer.diagnostics()
        );
        let written = clinic
            .get(&format!("/fhir/Observation?patient={ann}"), &clinic.doctor)
            .await;
        assert!(
            written.ids().is_empty(),
            "nothing from the transaction was written"
        );
    }
}

#[tokio::test]
async fn a_transaction_that_loses_a_version_race_writes_nothing() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let patient = clinic
        .get(&format!("/fhir/Patient/{ann}"), &clinic.doctor)
        .await
        .body;
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("urn:uuid:1", observation(&format!("Patient/{ann}"), "kept?")),
        {"resource": patient, "request": {"method": "PUT", "url": format!("Patient/{ann}"), "ifMatch": "W/\"7\""}},
    ]});
    let answer = clinic.post("/fhir", &clinic.doctor, bundle).await;
    assert_eq!(answer.status, 412, "{}", answer.body);
    assert!(clinic
        .get(&format!("/fhir/Observation?patient={ann}"), &clinic.doctor)
        .await
        .ids()
        .is_empty());
}

#[tokio::test]
async fn a_batch_answers_for_each_entry_on_its_own() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let subject = format!("Patient/{ann}");
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        entry("urn:uuid:1", observation(&subject, "good")),
        entry("urn:uuid:2", json!({"resourceType": "Observation", "status": "final", "subject": {"reference": subject}})),
        {"request": {"method": "GET", "url": subject}},
    ]});
    let answer = clinic.post("/fhir", &clinic.doctor, bundle).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["type"], "batch-response");
    let statuses: Vec<&str> = answer.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201 Created", "422", "200"]);
    assert_eq!(
        answer.body["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(
        clinic
            .get(&format!("/fhir/Observation?patient={ann}"), &clinic.doctor)
            .await
            .ids()
            .len(),
        1
    );
}
