use serde_json::json;

use super::*;

fn patient_ref() -> String {
    format!("Patient/{}", medvault_domain::PatientId::new())
}

#[test]
fn a_valid_observation_passes_and_reports_its_references() {
    let subject = patient_ref();
    let obs = json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-03-01T10:00:00Z",
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
        "_status": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    });
    let refs = validate(ResourceType::Observation, &obs).expect("valid");
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].path, "Observation.subject.reference");
}

#[test]
fn each_kind_of_mistake_names_its_element() {
    let cases = [
        (
            json!({"resourceType": "Observation", "code": {"text": "x"}}),
            "Observation.status",
            true,
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "bogus": 1}),
            "Observation.bogus",
            false,
        ),
        (
            json!({"resourceType": "Observation", "status": 7, "code": {"text": "x"}}),
            "Observation.status",
            false,
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "code": [{"text": "x"}]}),
            "Observation.code",
            false,
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "effectiveDateTime": "01/02/2024"}),
            "Observation.effectiveDateTime",
            false,
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueString": "a", "valueBoolean": true}),
            "Observation.value[x]",
            false,
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Practitioner/abc"}}),
            "Observation.subject.reference",
            true,
        ),
        (
            json!({"resourceType": "Patient", "birthDate": "2024-02-30"}),
            "Patient.birthDate",
            false,
        ),
        (
            json!({"resourceType": "Patient", "name": [{"given": "Ann"}]}),
            "Patient.name[0].given",
            false,
        ),
        (
            json!({"resourceType": "Patient", "id": "has space"}),
            "Patient.id",
            false,
        ),
        (
            json!({"resourceType": "Patient", "name": [{"family": ""}]}),
            "Patient.name[0].family",
            false,
        ),
    ];
    for (resource, path, unprocessable) in cases {
        let t: ResourceType = resource["resourceType"].as_str().unwrap().parse().unwrap();
        let err = validate(t, &resource).expect_err(path);
        assert_eq!(
            (err.path.as_str(), err.unprocessable),
            (path, unprocessable),
            "{err:?}"
        );
    }
}

#[test]
fn the_wrong_resource_type_is_refused() {
    let err = validate(
        ResourceType::Patient,
        &json!({"resourceType": "Observation"}),
    )
    .unwrap_err();
    assert_eq!(err.path, "Patient.resourceType");
}

#[test]
fn contained_resources_are_refused() {
    let err = validate(
        ResourceType::Patient,
        &json!({"resourceType": "Patient", "contained": [{"resourceType": "Patient"}]}),
    )
    .unwrap_err();
    assert_eq!(err.path, "Patient.contained");
}
