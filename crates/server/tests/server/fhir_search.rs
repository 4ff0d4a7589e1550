//! Search over encrypted records: every parameter the CapabilityStatement lists, paging,
//! and the refusal of whatever it does not list.

use serde_json::json;

use crate::clinic::Clinic;

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn patients_are_found_by_name_identifier_birthdate_and_gender() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Smith", "Ann", "1980-05-17", "female").await;
    let bob = clinic
        .patient("Smithers", "Bob", "1975-11-02", "male")
        .await;
    let cy = clinic.patient("Jones", "Cy", "1980-12-31", "other").await;
    let found = |query: &str| {
        let (clinic, query) = (&clinic, query.to_owned());
        async move {
            let answer = clinic
                .get(&format!("/fhir/Patient?{query}"), &clinic.doctor)
                .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.body);
            sorted(answer.ids())
        }
    };
    assert_eq!(
        found("family=smith").await,
        sorted(vec![ann.clone(), bob.clone()]),
        "prefix, any case"
    );
    assert_eq!(found("family:exact=smith").await, vec![ann.clone()]);
    assert_eq!(found("given=ANN").await, vec![ann.clone()]);
    assert_eq!(found("name=jon").await, vec![cy.clone()]);
    assert_eq!(
        found("name=bob,cy").await,
        sorted(vec![bob.clone(), cy.clone()]),
        "commas are OR"
    );
    assert_eq!(
        found("family=smith&gender=male").await,
        vec![bob.clone()],
        "parameters are AND"
    );
    assert_eq!(
        found("identifier=urn:mrn|MRN-Jones-Cy").await,
        vec![cy.clone()]
    );
    assert_eq!(found("identifier=MRN-Jones-Cy").await, vec![cy.clone()]);
    assert_eq!(
        found("identifier=urn:other|MRN-Jones-Cy").await,
        Vec::<String>::new()
    );
    assert_eq!(
        found("birthdate=1980").await,
        sorted(vec![ann.clone(), cy.clone()])
    );
    assert_eq!(found("birthdate=1980-05-17").await, vec![ann.clone()]);
    assert_eq!(found("birthdate=ge1980-06-01").await, vec![cy.clone()]);
    assert_eq!(found("birthdate=lt1980-01-01").await, vec![bob.clone()]);
    assert_eq!(
        found("birthdate=gt1980-05-17&birthdate=le1980-12-31").await,
        vec![cy.clone()]
    );
    assert_eq!(
        found(&format!("_id={ann},{bob}")).await,
        sorted(vec![ann.clone(), bob.clone()])
    );
    assert_eq!(found("_lastUpdated=ge2000-01-01").await.len(), 3);
    assert_eq!(found("_lastUpdated=lt2000-01-01").await.len(), 0);
}

#[tokio::test]
async fn clinical_records_are_found_by_patient_code_date_category_and_status() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let bob = clinic.patient("Bob", "B", "1970-01-01", "male").await;
    let glucose_march = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let glucose_june = clinic
        .observation(&ann, "2339-0", "2024-06-15T10:00:00Z", "preliminary")
        .await;
    let pulse = clinic
        .observation(&ann, "8867-4", "2023-12-31T23:00:00Z", "final")
        .await;
    let bobs = clinic
        .observation(&bob, "2339-0", "2024-03-02T10:00:00Z", "final")
        .await;
    let found = |query: String| {
        let clinic = &clinic;
        async move {
            let answer = clinic
                .get(&format!("/fhir/Observation?{query}"), &clinic.doctor)
                .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.body);
            sorted(answer.ids())
        }
    };
    assert_eq!(
        found(format!("patient={ann}")).await,
        sorted(vec![
            glucose_march.clone(),
            glucose_june.clone(),
            pulse.clone()
        ])
    );
    assert_eq!(
        found(format!("subject=Patient/{bob}")).await,
        vec![bobs.clone()]
    );
    assert_eq!(
        found(format!("patient={ann}&code=http://loinc.org|2339-0")).await,
        sorted(vec![glucose_march.clone(), glucose_june.clone()])
    );
    assert_eq!(
        found("code=2339-0&status=final".into()).await,
        sorted(vec![glucose_march.clone(), bobs.clone()])
    );
    assert_eq!(
        found("date=2024-03".into()).await,
        sorted(vec![glucose_march.clone(), bobs.clone()])
    );
    assert_eq!(
        found("date=ge2024-03-02&date=lt2024-07".into()).await,
        sorted(vec![glucose_june.clone(), bobs.clone()])
    );
    assert_eq!(found("date=lt2024".into()).await, vec![pulse.clone()]);
    assert_eq!(
        found("date=gt2024-06-01T00:00:00Z".into()).await,
        vec![glucose_june.clone()]
    );
    assert_eq!(
        found("category=laboratory&code=8867-4".into()).await,
        vec![pulse.clone()]
    );
    assert_eq!(
        found("patient=not-a-patient".into()).await,
        Vec::<String>::new()
    );

    let doctor_id = clinic
        .create(json!({"resourceType": "Practitioner", "name": [{"family": "House"}]}))
        .await;
    let team = clinic
        .create(json!({"resourceType": "CareTeam", "status": "active",
        "subject": {"reference": format!("Patient/{ann}")},
        "participant": [{"member": {"reference": format!("Practitioner/{doctor_id}")}}]}))
        .await;
    let teams = clinic
        .get(
            &format!("/fhir/CareTeam?participant=Practitioner/{doctor_id}&patient={ann}"),
            &clinic.doctor,
        )
        .await;
    assert_eq!(teams.ids(), vec![team]);
}

#[tokio::test]
async fn searches_page_with_next_links_until_every_match_is_seen() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let mut created = Vec::new();
    for day in 1..=7 {
        created.push(
            clinic
                .observation(
                    &ann,
                    "2339-0",
                    &format!("2024-03-0{day}T10:00:00Z"),
                    "final",
                )
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut next = Some(format!("/fhir/Observation?patient={ann}&_count=3"));
    let mut pages = 0;
    while let Some(url) = next {
        let page = clinic.get(&url, &clinic.doctor).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.ids().len() <= 3);
        seen.extend(page.ids());
        next = page.next_link();
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(sorted(seen), sorted(created));
}

/// A search naming more values than one request may ask for.
static MANY_IDS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let ids: Vec<String> = (0..101).map(|n| n.to_string()).collect();
    format!("/fhir/Patient?_id={}", ids.join(","))
});

#[tokio::test]
async fn what_is_not_supported_is_refused_never_ignored() {
    let clinic = Clinic::start(&[]).await;
    for (query, status, words) in [
        (
            "/fhir/Patient?nickname=x",
            400,
            "not a supported search parameter",
        ),
        ("/fhir/Patient?_sort=family", 400, "_sort"),
        (
            "/fhir/Patient?_include=Patient:organization",
            400,
            "_include",
        ),
        ("/fhir/Patient?family:contains=mit", 400, ":contains"),
        ("/fhir/Patient?birthdate=17/05/1980", 400, "birthdate"),
        ("/fhir/Patient?birthdate=sa1980", 400, "prefix"),
        ("/fhir/Patient?_count=100000", 400, "_count"),
        ("/fhir/Patient?_count=0", 400, "_count"),
        ("/fhir/Observation?code:text=glucose", 400, ":text"),
        ("/fhir/Patient?_format=xml", 415, "JSON"),
        ("/fhir/Specimen", 404, "does not store"),
        (&*MANY_IDS, 400, "at most 100 values"),
    ] {
        let answer = clinic.get(query, &clinic.doctor).await;
        assert_eq!(answer.status, status, "{query}: {}", answer.body);
        assert!(
            answer.diagnostics().contains(words),
            "{query}: {}",
            answer.diagnostics()
        );
    }
}

#[tokio::test]
async fn every_search_parameter_in_the_capability_statement_works() {
    let clinic = Clinic::start(&[]).await;
    let metadata = clinic.get("/fhir/metadata", "").await;
    assert_eq!(metadata.status, 200);
    assert_eq!(metadata.body["fhirVersion"], "4.0.1");
    let resources = metadata.body["rest"][0]["resource"].as_array().unwrap();
    let types: Vec<&str> = resources
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in [
        "Patient",
        "Practitioner",
        "Organization",
        "Encounter",
        "Observation",
        "Condition",
        "AllergyIntolerance",
        "MedicationRequest",
        "Immunization",
        "DiagnosticReport",
        "DocumentReference",
        "CareTeam",
        "Consent",
        "Communication",
    ] {
        assert!(types.contains(&t), "{t} is listed");
    }
    for resource in resources {
        let t = resource["type"].as_str().unwrap();
        for param in resource["searchParam"].as_array().unwrap() {
            let name = param["name"].as_str().unwrap();
            let value = match param["type"].as_str().unwrap() {
                "date" => "ge2020-01-01".to_owned(),
                "reference" => format!("Patient/{}", uuid::Uuid::new_v4()),
                _ => "x".to_owned(),
            };
            let answer = clinic
                .get(&format!("/fhir/{t}?{name}={value}"), &clinic.doctor)
                .await;
            assert_eq!(answer.status, 200, "{t}?{name}: {}", answer.body);
        }
    }
}
