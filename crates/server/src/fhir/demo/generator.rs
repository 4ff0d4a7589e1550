//! Synthetic, deterministic FHIR data: one transaction Bundle per patient with a realistic
//! spread of records (about 22 resources). Used by `serve --demo` and by the benchmarks.
//! Every name and value is invented; the same seed always gives the same data.

use serde_json::{json, Value};

/// SplitMix64: a small deterministic generator for synthetic data. It chooses names and
/// dates, never keys or tokens (those come from the OS CSPRNG).
#[derive(Debug, Clone)]
pub struct Synthetic(u64);

impl Synthetic {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FAMILIES: &[&str] = &[
    "Okafor",
    "Nguyen",
    "Silva",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Müller",
    "Garcia",
    "Johansson",
    "Mensah",
    "Rossi",
    "Ivanova",
    "Dubois",
    "Kim",
    "Patel",
    "O'Brien",
    "Novak",
    "Fischer",
];
const GIVEN: &[&str] = &[
    "Ada", "Bruno", "Chen", "Dara", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kiri",
    "Lena", "Malik", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tove",
];
/// LOINC codes with plausible values: (code, display, unit, low, high).
const LABS: &[(&str, &str, &str, f64, f64)] = &[
    (
        "2339-0",
        "Glucose [Mass/volume] in Blood",
        "mg/dL",
        70.0,
        180.0,
    ),
    (
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        4.5,
        9.5,
    ),
    ("8867-4", "Heart rate", "/min", 52.0, 110.0),
    ("29463-7", "Body weight", "kg", 45.0, 120.0),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 100.0, 170.0),
    (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        140.0,
        260.0,
    ),
];
const CONDITIONS: &[(&str, &str)] = &[
    ("44054006", "Diabetes mellitus type 2"),
    ("38341003", "Hypertensive disorder"),
    ("195967001", "Asthma"),
    ("55822004", "Hyperlipidemia"),
    ("35489007", "Depressive disorder"),
];
const MEDICATIONS: &[(&str, &str)] = &[
    ("860975", "metformin 500 MG Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("745679", "albuterol 90 MCG/ACTU Inhalant"),
    ("617310", "atorvastatin 20 MG Oral Tablet"),
];
const ALLERGENS: &[&str] = &["penicillin", "peanut", "latex", "shellfish"];
const VACCINES: &[(&str, &str)] = &[
    ("140", "Influenza, seasonal"),
    ("208", "COVID-19 mRNA"),
    ("115", "Tdap"),
];

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// The directory every demo patient's care team draws from.
pub fn directory_bundle(practitioners: usize) -> Value {
    let mut rng = Synthetic::new(7);
    let mut entries = vec![entry(
        "urn:uuid:org",
        json!({"resourceType": "Organization", "name": "Demo General Hospital",
               "identifier": [{"system": "urn:demo:org", "value": "DGH"}]}),
    )];
    for n in 0..practitioners {
        entries.push(entry(
            &format!("urn:uuid:practitioner-{n}"),
            json!({"resourceType": "Practitioner", "active": true,
                   "identifier": [{"system": "urn:demo:npi", "value": format!("NPI{:06}", n)}],
                   "name": [{"family": rng.pick(FAMILIES), "given": [rng.pick(GIVEN)], "prefix": ["Dr."]}]}),
        ));
    }
    transaction(entries)
}

/// Patient number `n` and their records, as one transaction. `practitioners` are ids of
/// stored Practitioners; the patient's care team and authors come from them. The
/// `organization` manages the patient.
pub fn patient_bundle(n: u64, practitioners: &[String], organization: Option<&str>) -> Value {
    let mut rng = Synthetic::new(n.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x00DE_C0DE);
    let patient = "urn:uuid:patient";
    let subject = json!({"reference": patient});
    let doctor = match practitioners {
        [] => None,
        list => Some(
            json!({"reference": format!("Practitioner/{}", list[rng.below(list.len() as u64) as usize])}),
        ),
    };
    let birth_year = 1930 + rng.below(90);
    let gender = ["female", "male", "other"][rng.below(3) as usize];
    let mut patient_resource = json!({"resourceType": "Patient", "active": true,
               "identifier": [{"system": "urn:demo:mrn", "value": format!("MRN{n:08}")}],
               "name": [{"family": rng.pick(FAMILIES), "given": [rng.pick(GIVEN)]}],
               "gender": gender,
               "birthDate": format!("{birth_year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
               "telecom": [{"system": "phone", "value": format!("+1-555-{:04}", rng.below(10_000))}],
               "address": [{"line": [format!("{} Demo Street", 1 + rng.below(900))], "city": "Springfield", "country": "US"}]});
    if let Some(organization) = organization {
        patient_resource["managingOrganization"] =
            json!({"reference": format!("Organization/{organization}")});
    }
    let mut entries = vec![entry(patient, patient_resource)];
    let day = |rng: &mut Synthetic| {
        format!(
            "20{:02}-{:02}-{:02}",
            18 + rng.below(8),
            1 + rng.below(12),
            1 + rng.below(28)
        )
    };
    for visit in 0..2 {
        let date = day(&mut rng);
        entries.push(entry(
            &format!("urn:uuid:encounter-{visit}"),
            json!({"resourceType": "Encounter", "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                   "subject": subject,
                   "period": {"start": format!("{date}T09:00:00Z"), "end": format!("{date}T09:30:00Z")}}),
        ));
    }
    for i in 0..10 {
        let (code, display, unit, low, high) = LABS[rng.below(LABS.len() as u64) as usize];
        let value = low + (high - low) * (rng.below(1000) as f64 / 1000.0);
        let category = if code == "2339-0" || code == "4548-4" || code == "2093-3" {
            "laboratory"
        } else {
            "vital-signs"
        };
        entries.push(entry(
            &format!("urn:uuid:obs-{i}"),
            json!({"resourceType": "Observation", "status": "final",
                   "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
                   "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                   "subject": subject,
                   "encounter": {"reference": format!("urn:uuid:encounter-{}", rng.below(2))},
                   "effectiveDateTime": format!("{}T{:02}:{:02}:00Z", day(&mut rng), 7 + rng.below(10), rng.below(60)),
                   "valueQuantity": {"value": (value * 10.0).round() / 10.0, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}),
        ));
    }
    for _ in 0..1 + rng.below(2) {
        let (code, display) = CONDITIONS[rng.below(CONDITIONS.len() as u64) as usize];
        entries.push(entry(
            &format!("urn:uuid:condition-{}", entries.len()),
            json!({"resourceType": "Condition",
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
                   "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
                   "subject": subject, "recordedDate": day(&mut rng)}),
        ));
    }
    if rng.below(2) == 0 {
        entries.push(entry(
            "urn:uuid:allergy",
            json!({"resourceType": "AllergyIntolerance", "patient": subject, "category": ["medication"],
                   "code": {"text": rng.pick(ALLERGENS)}, "recordedDate": day(&mut rng),
                   "reaction": [{"manifestation": [{"text": "hives"}]}]}),
        ));
    }
    for _ in 0..1 + rng.below(2) {
        let (code, display) = MEDICATIONS[rng.below(MEDICATIONS.len() as u64) as usize];
        let mut request = json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
               "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}]},
               "subject": subject, "authoredOn": day(&mut rng),
               "dosageInstruction": [{"text": "once daily", "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}]});
        if let Some(doctor) = &doctor {
            request["requester"] = doctor.clone();
        }
        entries.push(entry(&format!("urn:uuid:med-{}", entries.len()), request));
    }
    let (code, display) = VACCINES[rng.below(VACCINES.len() as u64) as usize];
    entries.push(entry(
        "urn:uuid:immunization",
        json!({"resourceType": "Immunization", "status": "completed", "patient": subject,
               "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": code, "display": display}]},
               "occurrenceDateTime": day(&mut rng)}),
    ));
    entries.push(entry(
        "urn:uuid:report",
        json!({"resourceType": "DiagnosticReport", "status": "final",
               "code": {"coding": [{"system": LOINC, "code": "58410-2", "display": "CBC panel"}]},
               "subject": subject, "effectiveDateTime": format!("{}T08:00:00Z", day(&mut rng)),
               "result": [{"reference": "urn:uuid:obs-1"}], "conclusion": "Within normal limits."}),
    ));
    entries.push(entry(
        "urn:uuid:document",
        json!({"resourceType": "DocumentReference", "status": "current", "subject": subject,
               "type": {"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}]},
               "content": [{"attachment": {"contentType": "text/plain", "data": "UGF0aWVudCBkb2luZyB3ZWxsLg=="}}]}),
    ));
    if let Some(doctor) = &doctor {
        entries.push(entry(
            "urn:uuid:careteam",
            json!({"resourceType": "CareTeam", "status": "active", "subject": subject,
                   "participant": [{"member": doctor}]}),
        ));
        entries.push(entry(
            "urn:uuid:consent",
            json!({"resourceType": "Consent", "status": "active",
                   "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
                   "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
                   "patient": subject, "dateTime": day(&mut rng),
                   "provision": {"type": "permit", "actor": [{"role": {"text": "primary care"}, "reference": doctor}]}}),
        ));
        entries.push(entry(
            "urn:uuid:message",
            json!({"resourceType": "Communication", "status": "completed", "subject": subject,
                   "sender": doctor, "recipient": [subject],
                   "payload": [{"contentString": "Your latest results look fine."}],
                   "sent": format!("{}T12:00:00Z", day(&mut rng))}),
        ));
    }
    transaction(entries)
}

fn entry(full_url: &str, resource: Value) -> Value {
    let resource_type = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource_type}})
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_patient_and_others_differ() {
        let doctors = vec!["d1".to_owned()];
        assert_eq!(
            patient_bundle(3, &doctors, None),
            patient_bundle(3, &doctors, None)
        );
        assert_ne!(
            patient_bundle(3, &doctors, None),
            patient_bundle(4, &doctors, None)
        );
        let entries = patient_bundle(3, &doctors, None)["entry"]
            .as_array()
            .map_or(0, Vec::len);
        assert!((18..=26).contains(&entries), "{entries}");
    }
}
