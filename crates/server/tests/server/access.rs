//! Authorization (issue #6): policies as data, tried through HTTP. Every case is an attempt
//! by a real account; a refusal must reveal nothing (404 as for a missing record).

use reqwest::Method;
use serde_json::{json, Value};

use crate::clinic::Clinic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Own,
    CareTeam,
    Consented,
    Unrelated,
    BreakGlass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interaction {
    Read,
    Search,
    Create,
    Update,
    Delete,
}

use Interaction::{Create, Delete, Read, Search, Update};
use Relation::{BreakGlass, CareTeam, Consented, Own, Unrelated};

/// What the default policy set allows, written out from issue #6 independently of it.
fn allowed(role: &str, relation: Relation, resource_type: &str, interaction: Interaction) -> bool {
    let reads = matches!(interaction, Read | Search);
    let treats = matches!(relation, CareTeam | Consented | BreakGlass);
    match role {
        "physician" => treats,
        "nurse" => treats && (reads || resource_type != "MedicationRequest"),
        // The hospital manages only the care-team patient here.
        "director" => reads && relation == CareTeam,
        // The matrix bodies are not self-reported, so a patient only reads their own.
        "patient" => reads && relation == Own,
        _ => false,
    }
}

/// A clinical record of `resource_type` for `patient`, performed by a clinician (not
/// self-reported).
fn record(resource_type: &str, patient: &str, practitioner: &str) -> Value {
    let subject = json!({"reference": format!("Patient/{patient}")});
    let by = json!({"reference": format!("Practitioner/{practitioner}")});
    match resource_type {
        "Observation" => json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
            "subject": subject, "performer": [by], "valueQuantity": {"value": 5.4, "unit": "mmol/L"}}),
        _ => json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "metformin 500 mg"},
            "subject": subject, "requester": by}),
    }
}

/// The world of the matrix: one patient per relationship, each with one record of each
/// type, and one account per role.
struct World {
    clinic: Clinic,
    patients: Vec<(Relation, String)>,
    tokens: Vec<(&'static str, String)>,
}

const TYPES: [&str; 2] = ["Observation", "MedicationRequest"];
const ROLES: [&str; 7] = [
    "physician",
    "nurse",
    "director",
    "admin",
    "auditor",
    "researcher",
    "patient",
];

impl World {
    async fn build() -> Self {
        let clinic = Clinic::start(&[]).await;
        let hospital = clinic
            .create(json!({"resourceType": "Organization", "name": "St Elsewhere"}))
            .await;
        let (physician_practitioner, physician) = clinic
            .clinician("phys@example.org", "physician", Some(&hospital))
            .await;
        let (nurse_practitioner, nurse) = clinic
            .clinician("nurse@example.org", "nurse", Some(&hospital))
            .await;
        let (_, director) = clinic
            .clinician("director@example.org", "director", Some(&hospital))
            .await;
        let mut patients = Vec::new();
        for relation in [Own, CareTeam, Consented, Unrelated, BreakGlass] {
            let mut patient = json!({"resourceType": "Patient",
                "name": [{"family": format!("{relation:?}")}]});
            if relation == CareTeam {
                patient["managingOrganization"] =
                    json!({"reference": format!("Organization/{hospital}")});
            }
            let id = clinic.create(patient).await;
            let members = [&physician_practitioner, &nurse_practitioner];
            match relation {
                CareTeam => {
                    clinic.create(json!({"resourceType": "CareTeam", "status": "active",
                        "subject": {"reference": format!("Patient/{id}")},
                        "participant": members.map(|p| json!({"member": {"reference": format!("Practitioner/{p}")}}))}))
                        .await;
                }
                Consented => {
                    clinic
                        .create(consent(&id, &members.map(|p| format!("Practitioner/{p}"))))
                        .await;
                }
                _ => {}
            }
            patients.push((relation, id));
        }
        let own = patients[0].1.clone();
        let mut tokens = vec![
            ("physician", physician),
            ("nurse", nurse),
            ("director", director),
        ];
        for role in ["admin", "auditor", "researcher"] {
            tokens.push((
                role,
                clinic.user(&format!("{role}@example.org"), role).await,
            ));
        }
        tokens.push((
            "patient",
            clinic.patient_user("own@example.org", &own).await,
        ));
        let world = Self {
            clinic,
            patients,
            tokens,
        };
        let glass = world.patient(BreakGlass);
        for role in ["physician", "nurse"] {
            let grant = world
                .break_glass(role, &glass, "unconscious in the ER")
                .await;
            assert_eq!(grant.0, 201, "{}", grant.1);
        }
        world
    }

    fn patient(&self, relation: Relation) -> String {
        self.patients
            .iter()
            .find(|(r, _)| *r == relation)
            .map(|(_, id)| id.clone())
            .unwrap()
    }

    fn token(&self, role: &str) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    async fn break_glass(&self, role: &str, patient: &str, reason: &str) -> (u16, Value) {
        let response = self
            .clinic
            .realm
            .client
            .post(self.clinic.realm.url("/api/v1/break-glass"))
            .bearer_auth(self.token(role))
            .json(&json!({"patient": patient, "reason": reason}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A fresh record written by the physician who registered every patient.
    async fn fresh(&self, resource_type: &str, patient: &str) -> String {
        self.clinic
            .create(record(resource_type, patient, &self.clinic.practitioner))
            .await
    }
}

fn consent(patient: &str, actors: &[String]) -> Value {
    json!({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "provision": {"type": "permit", "actor": actors.iter().map(|a| json!({
            "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
            "reference": {"reference": a}})).collect::<Vec<_>>()}})
}

#[tokio::test]
async fn the_authorization_matrix_holds_for_every_role_relationship_type_and_interaction() {
    let world = World::build().await;
    let clinic = &world.clinic;
    let mut cases = 0;
    let mut failures = Vec::new();
    for role in ROLES {
        let token = world.token(role);
        for (relation, patient) in &world.patients {
            for resource_type in TYPES {
                for interaction in [Read, Search, Create, Update, Delete] {
                    cases += 1;
                    let expected = allowed(role, *relation, resource_type, interaction);
                    let may_read = allowed(role, *relation, resource_type, Read);
                    let outcome = attempt(&world, token, patient, resource_type, interaction).await;
                    let ok = match (interaction, expected, outcome) {
                        (_, true, Outcome::Done) => true,
                        (Search, false, Outcome::Hidden | Outcome::Refused) => true,
                        // A refusal reveals nothing: 404 where the caller may not read.
                        (Read | Update | Delete, false, Outcome::Hidden) => !may_read,
                        (Update | Delete, false, Outcome::Refused) => may_read,
                        (Create, false, Outcome::Refused) => true,
                        _ => false,
                    };
                    if !ok {
                        failures.push(format!(
                            "{role} {interaction:?} {resource_type} of a {relation:?} patient: \
                             expected {}, got {outcome:?}",
                            if expected { "allowed" } else { "refused" }
                        ));
                    }
                }
            }
        }
    }
    assert!(cases >= 200, "{cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every decision names the policies that made it.
    let events = clinic.realm.audit_events().await;
    assert!(events.iter().any(|e| e.action.code() == "fhir.read"
        && e.policy.as_deref() == Some("clinician-treats-care-team-patients")));
    assert!(events.iter().any(|e| e.action.code() == "fhir.create"
        && e.outcome.code() == "denied"
        && e.policy.as_deref() == Some("nurse-does-not-prescribe")));
    assert!(events
        .iter()
        .any(|e| e.purpose.map(|p| p.code()) == Some("break_glass")
            && e.policy
                .as_deref()
                .is_some_and(|p| p.contains("break-the-glass"))));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The interaction happened (for a search: the record was among the results).
    Done,
    /// 404, or a search that did not show the record.
    Hidden,
    /// 403.
    Refused,
    Unexpected(u16),
}

async fn attempt(
    world: &World,
    token: &str,
    patient: &str,
    resource_type: &str,
    interaction: Interaction,
) -> Outcome {
    let clinic = &world.clinic;
    let by = &clinic.practitioner;
    let classify = |status: u16, done: bool| match status {
        _ if done => Outcome::Done,
        404 => Outcome::Hidden,
        403 => Outcome::Refused,
        other => Outcome::Unexpected(other),
    };
    match interaction {
        Read => {
            let id = world.fresh(resource_type, patient).await;
            let answer = clinic
                .get(&format!("/fhir/{resource_type}/{id}"), token)
                .await;
            classify(answer.status, answer.status == 200)
        }
        Search => {
            let id = world.fresh(resource_type, patient).await;
            let answer = clinic
                .get(&format!("/fhir/{resource_type}?patient={patient}"), token)
                .await;
            match answer.status {
                200 if answer.ids().contains(&id) => Outcome::Done,
                200 if answer.ids().is_empty() => Outcome::Hidden,
                status => classify(status, false),
            }
        }
        Create => {
            let answer = clinic
                .post(
                    &format!("/fhir/{resource_type}"),
                    token,
                    record(resource_type, patient, by),
                )
                .await;
            classify(answer.status, answer.status == 201)
        }
        Update => {
            let id = world.fresh(resource_type, patient).await;
            let mut body = record(resource_type, patient, by);
            body["id"] = json!(id);
            body["status"] = json!(if resource_type == "Observation" {
                "amended"
            } else {
                "on-hold"
            });
            let answer = clinic
                .call(
                    Method::PUT,
                    &format!("/fhir/{resource_type}/{id}"),
                    token,
                    Some(body),
                )
                .await;
            classify(answer.status, answer.status == 200)
        }
        Delete => {
            let id = world.fresh(resource_type, patient).await;
            let path = format!("/fhir/{resource_type}/{id}");
            let answer = clinic.call(Method::DELETE, &path, token, None).await;
            let gone = clinic.get(&path, &clinic.doctor).await.status == 410;
            classify(answer.status, matches!(answer.status, 200 | 204) && gone)
        }
    }
}

#[tokio::test]
async fn withdrawing_consent_ends_access_on_the_very_next_request() {
    let clinic = Clinic::start(&[]).await;
    let (practitioner, physician) = clinic
        .clinician("phys@example.org", "physician", None)
        .await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let path = format!("/fhir/Observation/{obs}");
    assert_eq!(clinic.get(&path, &physician).await.status, 404);

    let ann_token = clinic.patient_user("ann@example.org", &ann).await;
    let given = clinic
        .post(
            "/fhir/Consent",
            &ann_token,
            consent(&ann, &[format!("Practitioner/{practitioner}")]),
        )
        .await;
    assert_eq!(given.status, 201, "{}", given.body);
    let consent_id = given.body["id"].as_str().unwrap().to_owned();
    assert_eq!(clinic.get(&path, &physician).await.status, 200);
    let found = clinic
        .get(&format!("/fhir/Observation?patient={ann}"), &physician)
        .await;
    assert_eq!(found.ids(), vec![obs.clone()]);

    // A deny provision for the same actor overrides the permit, even the care team's.
    let mut deny = consent(&ann, &[format!("Practitioner/{}", clinic.practitioner)]);
    deny["provision"]["type"] = json!("deny");
    let denied = clinic.post("/fhir/Consent", &ann_token, deny).await;
    assert_eq!(denied.status, 201, "{}", denied.body);
    assert_eq!(
        clinic.get(&path, &clinic.doctor).await.status,
        404,
        "deny overrides the care team"
    );
    let deny_id = denied.body["id"].as_str().unwrap().to_owned();
    let lifted = clinic
        .call(
            Method::DELETE,
            &format!("/fhir/Consent/{deny_id}"),
            &ann_token,
            None,
        )
        .await;
    assert!(matches!(lifted.status, 200 | 204), "{}", lifted.body);
    assert_eq!(clinic.get(&path, &clinic.doctor).await.status, 200);

    // Withdrawn through the API: the next request is refused.
    let withdrawn = clinic
        .call(
            Method::DELETE,
            &format!("/api/v1/me/consents/{consent_id}"),
            &ann_token,
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 204, "{}", withdrawn.body);
    assert_eq!(clinic.get(&path, &physician).await.status, 404);
    let found = clinic
        .get(&format!("/fhir/Observation?patient={ann}"), &physician)
        .await;
    assert!(found.ids().is_empty(), "{}", found.body);

    // An admin records consent on Ann's behalf, without reading anything of hers.
    let on_behalf = clinic
        .post(
            "/fhir/Consent",
            &clinic.registrar,
            consent(&ann, &[format!("Practitioner/{practitioner}")]),
        )
        .await;
    assert_eq!(on_behalf.status, 201, "{}", on_behalf.body);
    assert_eq!(clinic.get(&path, &physician).await.status, 200);
    let id = on_behalf.body["id"].as_str().unwrap();
    let consent_read = clinic
        .get(&format!("/fhir/Consent/{id}"), &clinic.registrar)
        .await;
    assert_eq!(consent_read.status, 404);
    assert_eq!(clinic.get(&path, &clinic.registrar).await.status, 404);
}

#[tokio::test]
async fn break_the_glass_is_audited_shown_to_the_patient_and_expires() {
    let clinic = Clinic::start(&["--break-glass-secs", "3"]).await;
    let (nurse_practitioner, nurse) = clinic.clinician("nurse@example.org", "nurse", None).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let path = format!("/fhir/Observation/{obs}");
    assert_eq!(clinic.get(&path, &nurse).await.status, 404);

    let take = |token: String, body: Value| {
        let realm = &clinic.realm;
        async move {
            let response = realm
                .client
                .post(realm.url("/api/v1/break-glass"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // A reason is required; only clinicians break the glass.
    assert_eq!(
        take(nurse.clone(), json!({"patient": ann, "reason": "  "}))
            .await
            .0,
        422
    );
    let admin = clinic.registrar.clone();
    assert_eq!(
        take(admin.clone(), json!({"patient": ann, "reason": "curious"}))
            .await
            .0,
        403
    );
    let (status, grant) = take(
        nurse.clone(),
        json!({"patient": ann, "reason": "collapsed in the lobby"}),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(clinic.get(&path, &nurse).await.status, 200);
    // The grant buys no lasting seat: no joining the care team, no consent to oneself.
    let seat = json!({"resourceType": "CareTeam", "status": "active",
        "subject": {"reference": format!("Patient/{ann}")},
        "participant": [{"member": {"reference": format!("Practitioner/{nurse_practitioner}")}}]});
    assert_eq!(
        clinic.post("/fhir/CareTeam", &nurse, seat).await.status,
        403
    );
    let to_herself = consent(&ann, &[format!("Practitioner/{nurse_practitioner}")]);
    assert_eq!(
        clinic
            .post("/fhir/Consent", &nurse, to_herself)
            .await
            .status,
        403
    );

    // Audited with purpose break_glass, raised as a security event, and in Ann's log.
    let events = clinic.realm.audit_events().await;
    assert!(events.iter().any(|e| e.action.code() == "break_glass"));
    assert!(events
        .iter()
        .any(|e| e.action.code() == "fhir.read"
            && e.purpose.map(|p| p.code()) == Some("break_glass")));
    let ann_token = clinic.patient_user("ann@example.org", &ann).await;
    let log = clinic
        .realm
        .get_json("/api/v1/me/access-log", &ann_token)
        .await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["break_glass"] == true),
        "{log}"
    );
    let listed = clinic
        .realm
        .get_json("/api/v1/admin/break-glass", &admin)
        .await;
    assert_eq!(
        listed["grants"][0]["reason"], "collapsed in the lobby",
        "{listed}"
    );
    assert_eq!(listed["grants"][0]["active"], true);
    // Reading the reason is itself on the record.
    assert!(clinic
        .realm
        .audit_actions()
        .await
        .contains(&"break_glass.review"));
    assert_eq!(
        clinic
            .realm
            .get("/api/v1/admin/break-glass", &nurse)
            .await
            .status(),
        403
    );

    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    assert_eq!(
        clinic.get(&path, &nurse).await.status,
        404,
        "the grant expired"
    );
    let listed = clinic
        .realm
        .get_json("/api/v1/admin/break-glass", &admin)
        .await;
    assert_eq!(listed["grants"][0]["active"], false);
}

#[tokio::test]
async fn a_bad_policy_set_is_refused_with_its_location_and_the_old_one_stays_in_force() {
    let clinic = Clinic::start(&[]).await;
    let admin = clinic.registrar.clone();
    let (_, outsider) = clinic
        .clinician("outsider@example.org", "physician", None)
        .await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let obs = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let path = format!("/fhir/Observation/{obs}");
    let put = |policies: String| {
        let realm = &clinic.realm;
        let admin = admin.clone();
        async move {
            let response = realm
                .client
                .put(realm.url("/api/v1/admin/policies"))
                .bearer_auth(admin)
                .json(&json!({"policies": policies}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let current = clinic
        .realm
        .get_json("/api/v1/admin/policies", &admin)
        .await;
    assert_eq!(current["version"], 0);
    let default = current["policies"].as_str().unwrap().to_owned();

    // A syntax error, a misspelt role and a missing attribute: each refused, with where.
    let everyone_reads = "@id(\"open\")\npermit (principal, action, resource);\n";
    for (bad, line) in [
        (format!("{default}\n@id(\"oops\")\npermit (principal action, resource);\n"), None),
        (
            format!("{everyone_reads}@id(\"typo\")\npermit (principal in Medvault::Role::\"physican\", action, resource);\n"),
            Some(3),
        ),
        (
            format!("{everyone_reads}@id(\"attr\")\npermit (principal, action, resource) when {{ context.onCall }};\n"),
            Some(3),
        ),
    ] {
        let (status, problem) = put(bad).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "urn:medvault:problem:invalid-policy");
        let first = &problem["errors"][0];
        assert!(first["message"].as_str().is_some_and(|m| !m.is_empty()), "{problem}");
        if let Some(line) = line {
            // The policy starts on `line`; the fault is on it or the next.
            let at = first["line"].as_u64().unwrap_or(0);
            assert!(at == line || at == line + 1, "{problem}");
        }
    }
    // The default set still rules: a physician off the care team reads nothing.
    assert_eq!(clinic.get(&path, &outsider).await.status, 404);
    assert_eq!(clinic.get(&path, &clinic.doctor).await.status, 200);

    // A valid set takes effect on the next request: here, no physician reads Observations.
    let stricter = format!(
        "{default}\n@id(\"no-observations-for-physicians\")\n\
         forbid (principal in Medvault::Role::\"physician\", action, resource)\n\
         when {{ resource.resourceType == \"Observation\" }};\n"
    );
    let (status, loaded) = put(stricter).await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["version"], 1);
    assert_eq!(clinic.get(&path, &clinic.doctor).await.status, 404);
    let events = clinic.realm.audit_events().await;
    assert!(events
        .iter()
        .any(|e| e.action.code() == "access.policy_load"));
    assert!(events.iter().any(|e| e.outcome.code() == "denied"
        && e.policy.as_deref() == Some("no-observations-for-physicians")));

    // Only admins see or change the policies; a stale version is refused.
    assert_eq!(
        clinic
            .realm
            .get("/api/v1/admin/policies", &clinic.doctor)
            .await
            .status(),
        403
    );
    let stale = clinic
        .realm
        .client
        .put(clinic.realm.url("/api/v1/admin/policies"))
        .bearer_auth(&admin)
        .json(&json!({"policies": default, "replaces": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
}

#[tokio::test]
async fn policies_load_from_the_command_line_and_errors_name_file_line_and_column() {
    let clinic = Clinic::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cedar");
    std::fs::write(
        &bad,
        "@id(\"a\")\npermit (principal, action, resource)\nwhen { context.nope };\n",
    )
    .unwrap();
    let bad_path = bad.to_str().unwrap();
    let (ok, _, stderr) = clinic.realm.run_cli(&["policy", "check", bad_path], "");
    assert!(!ok);
    assert!(stderr.contains(&format!("{bad_path}:3:")), "{stderr}");
    let (ok, _, _) = clinic.realm.run_cli(&["policy", "load", bad_path], "");
    assert!(!ok);

    let (ok, shown, stderr) = clinic.realm.run_cli(&["policy", "show"], "");
    assert!(ok, "{stderr}");
    assert!(shown.starts_with("// version 0"), "{shown}");
    let good = dir.path().join("good.cedar");
    let text = shown.replacen("// version 0\n", "", 1)
        + "\n@id(\"no-directors\")\nforbid (principal in Medvault::Role::\"director\", action, resource);\n";
    std::fs::write(&good, text).unwrap();
    let (ok, stdout, stderr) = clinic
        .realm
        .run_cli(&["policy", "load", good.to_str().unwrap()], "");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("version 1"), "{stdout}");
    // The running server follows within seconds.
    let admin = clinic.registrar.clone();
    let mut version = Value::Null;
    for _ in 0..50 {
        let current = clinic
            .realm
            .get_json("/api/v1/admin/policies", &admin)
            .await;
        version = current["version"].clone();
        if version == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(version, 1);
}

#[tokio::test]
async fn searches_never_count_or_page_past_what_the_caller_may_see() {
    let clinic = Clinic::start(&[]).await;
    let (practitioner, physician) = clinic
        .clinician("phys@example.org", "physician", None)
        .await;
    // Many records of patients the physician does not treat, and two of one they do.
    for n in 0..12 {
        let other = clinic
            .patient(&format!("Other{n}"), "O", "1970-01-01", "male")
            .await;
        clinic
            .observation(&other, "2339-0", "2024-03-01T10:00:00Z", "final")
            .await;
    }
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    clinic
        .create(json!({"resourceType": "CareTeam", "status": "active",
            "subject": {"reference": format!("Patient/{ann}")},
            "participant": [{"member": {"reference": format!("Practitioner/{practitioner}")}}]}))
        .await;
    let mine = [
        clinic
            .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
            .await,
        clinic
            .observation(&ann, "2339-0", "2024-04-01T10:00:00Z", "final")
            .await,
    ];
    let first = clinic
        .get("/fhir/Observation?code=2339-0&_count=1", &physician)
        .await;
    assert_eq!(first.status, 200);
    assert!(first.body.get("total").is_none(), "{}", first.body);
    let next = first.next_link().expect("a second permitted match exists");
    // The cursor is sealed: it names no record, and a forged one is refused.
    assert!(!mine.iter().any(|id| next.contains(id.as_str())), "{next}");
    let forged = clinic
        .get(
            &format!(
                "/fhir/Observation?code=2339-0&_cursor=Observation/{}",
                mine[0]
            ),
            &physician,
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let second = clinic.get(&next, &physician).await;
    assert!(
        second.next_link().is_none(),
        "no link past the last permitted match: {}",
        second.body
    );
    let mut seen = [first.ids(), second.ids()].concat();
    seen.sort();
    let mut expected = mine.to_vec();
    expected.sort();
    assert_eq!(seen, expected);

    // Asking for another patient's compartment finds nothing rather than an error.
    let other = clinic.get("/fhir/Patient?family=Other0", &physician).await;
    assert!(other.ids().is_empty(), "{}", other.body);
    let history = clinic.get("/fhir/Observation/_history", &physician).await;
    assert_eq!(history.ids().len(), 2, "{}", history.body);

    // A reference cannot probe either: one to a record the physician may not read is
    // refused in the same words as one to nothing; an update of a record they may not
    // see in the same words as one that does not exist.
    let hidden = clinic
        .observation(&ann, "2339-0", "2024-05-01T10:00:00Z", "final")
        .await;
    let others = clinic
        .get("/fhir/Patient?family=Other1", &clinic.doctor)
        .await
        .ids();
    let theirs = clinic
        .observation(&others[0], "2339-0", "2024-05-01T10:00:00Z", "final")
        .await;
    let probe = |target: String| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "probe"},
            "subject": {"reference": format!("Patient/{ann}")},
            "derivedFrom": [{"reference": format!("Observation/{target}")}]})
    };
    let hidden_answer = clinic
        .post("/fhir/Observation", &physician, probe(theirs.clone()))
        .await;
    let missing_answer = clinic
        .post(
            "/fhir/Observation",
            &physician,
            probe(uuid::Uuid::new_v4().to_string()),
        )
        .await;
    assert_eq!(hidden_answer.status, 422, "{}", hidden_answer.body);
    assert_eq!(hidden_answer.body, missing_answer.body);
    let allowed = clinic
        .post("/fhir/Observation", &physician, probe(hidden))
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.body);
    let mut body = record("Observation", &others[0], &practitioner);
    body["id"] = json!(theirs);
    let refused = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{theirs}"),
            &physician,
            Some(body.clone()),
        )
        .await;
    let nowhere = uuid::Uuid::new_v4().to_string();
    body["id"] = json!(nowhere);
    let missing = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{nowhere}"),
            &physician,
            Some(body),
        )
        .await;
    assert_eq!((refused.status, missing.status), (404, 404));
    assert_eq!(refused.body, missing.body);
}

#[tokio::test]
async fn a_patient_writes_self_reported_observations_but_not_clinical_ones() {
    let clinic = Clinic::start(&[]).await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    let token = clinic.patient_user("ann@example.org", &ann).await;
    let reading = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": format!("Patient/{ann}")},
        "performer": [{"reference": format!("Patient/{ann}")}],
        "valueQuantity": {"value": 71.5, "unit": "kg"}});
    let created = clinic
        .post("/fhir/Observation", &token, reading.clone())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    // She may correct her own reading, but not turn it into a clinician's.
    let mut corrected = created.body.clone();
    corrected["valueQuantity"]["value"] = json!(71.0);
    let path = format!("/fhir/Observation/{id}");
    assert_eq!(
        clinic
            .call(Method::PUT, &path, &token, Some(corrected.clone()))
            .await
            .status,
        200
    );
    corrected["performer"] =
        json!([{"reference": format!("Practitioner/{}", clinic.practitioner)}]);
    assert_eq!(
        clinic
            .call(Method::PUT, &path, &token, Some(corrected))
            .await
            .status,
        403
    );
    // A clinician's Observation stays the clinician's.
    let lab = clinic
        .observation(&ann, "2339-0", "2024-03-01T10:00:00Z", "final")
        .await;
    let answer = clinic
        .call(
            Method::DELETE,
            &format!("/fhir/Observation/{lab}"),
            &token,
            None,
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    // A reading a clinician entered stays theirs, even naming Ann as the performer.
    let entered = clinic.create(reading.clone()).await;
    let mut edited = clinic
        .get(&format!("/fhir/Observation/{entered}"), &token)
        .await
        .body;
    edited["valueQuantity"]["value"] = json!(60.0);
    let answer = clinic
        .call(
            Method::PUT,
            &format!("/fhir/Observation/{entered}"),
            &token,
            Some(edited),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let mut clinical = reading;
    clinical["performer"] = json!([{"reference": format!("Practitioner/{}", clinic.practitioner)}]);
    assert_eq!(
        clinic
            .post("/fhir/Observation", &token, clinical)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn care_teams_are_managed_by_their_members_and_the_organizations_director() {
    let clinic = Clinic::start(&[]).await;
    let hospital = clinic
        .create(json!({"resourceType": "Organization", "name": "St Elsewhere"}))
        .await;
    let (_, director) = clinic
        .clinician("director@example.org", "director", Some(&hospital))
        .await;
    let (nurse_practitioner, nurse) = clinic.clinician("nurse@example.org", "nurse", None).await;
    let (outsider_practitioner, outsider) = clinic
        .clinician("outsider@example.org", "physician", None)
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
    let chart = format!("/fhir/Observation/{obs}");
    let team = |members: &[&str]| {
        json!({"resourceType": "CareTeam", "status": "active",
            "subject": {"reference": format!("Patient/{ann}")},
            "participant": members.iter().map(|p| json!({"member": {"reference": format!("Practitioner/{p}")}})).collect::<Vec<_>>()})
    };

    // The director staffs Ann's care team; the nurse then treats her.
    assert_eq!(clinic.get(&chart, &nurse).await.status, 404);
    let staffed = clinic
        .post("/fhir/CareTeam", &director, team(&[&nurse_practitioner]))
        .await;
    assert_eq!(staffed.status, 201, "{}", staffed.body);
    assert_eq!(clinic.get(&chart, &nurse).await.status, 200);
    // An outsider cannot put themself on it.
    let intrusion = clinic
        .post("/fhir/CareTeam", &outsider, team(&[&outsider_practitioner]))
        .await;
    assert_eq!(intrusion.status, 403, "{}", intrusion.body);
    assert_eq!(clinic.get(&chart, &outsider).await.status, 404);
    // A member brings a colleague in; the director disbands the team.
    let id = staffed.body["id"].as_str().unwrap().to_owned();
    let mut body = team(&[&nurse_practitioner, &outsider_practitioner]);
    body["id"] = json!(id);
    let path = format!("/fhir/CareTeam/{id}");
    let joined = clinic.call(Method::PUT, &path, &nurse, Some(body)).await;
    assert_eq!(joined.status, 200, "{}", joined.body);
    assert_eq!(clinic.get(&chart, &outsider).await.status, 200);
    let disbanded = clinic.call(Method::DELETE, &path, &director, None).await;
    assert!(matches!(disbanded.status, 200 | 204), "{}", disbanded.body);
    assert_eq!(clinic.get(&chart, &outsider).await.status, 404);
    assert_eq!(clinic.get(&chart, &nurse).await.status, 404);
    // The director of another hospital sees none of it.
    let elsewhere = clinic
        .create(json!({"resourceType": "Organization", "name": "Elsewhere General"}))
        .await;
    let (_, stranger) = clinic
        .clinician("stranger@example.org", "director", Some(&elsewhere))
        .await;
    assert_eq!(clinic.get(&chart, &stranger).await.status, 404);
    assert_eq!(
        clinic
            .post("/fhir/CareTeam", &stranger, team(&[&nurse_practitioner]))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn everything_pages_only_through_what_the_consent_lets_a_physician_see() {
    let clinic = Clinic::start(&[]).await;
    let (practitioner, physician) = clinic
        .clinician("phys@example.org", "physician", None)
        .await;
    let ann = clinic.patient("Ann", "A", "1980-01-01", "female").await;
    for when in ["2024-03-01T10:00:00Z", "2024-04-01T10:00:00Z"] {
        clinic.observation(&ann, "2339-0", when, "final").await;
        clinic
            .create(record("MedicationRequest", &ann, &clinic.practitioner))
            .await;
    }
    // Ann lets this physician see her chart, except her prescriptions.
    let mut partial = consent(&ann, &[format!("Practitioner/{practitioner}")]);
    partial["provision"]["provision"] = json!([{"type": "deny",
        "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "MedicationRequest"}]}]);
    clinic.create(partial).await;
    let mut seen = Vec::new();
    let mut next = Some(format!("/fhir/Patient/{ann}/$everything?_count=1"));
    while let Some(url) = next {
        let page = clinic.get(&url, &physician).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let ids = page.ids();
        assert_eq!(
            ids.len(),
            1,
            "every page is full until the last: {}",
            page.body
        );
        seen.extend(
            page.body["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_owned()),
        );
        next = page.next_link();
        assert!(seen.len() < 20, "paging does not end");
    }
    assert!(!seen.iter().any(|t| t == "MedicationRequest"), "{seen:?}");
    assert_eq!(
        seen.iter().filter(|t| *t == "Observation").count(),
        2,
        "{seen:?}"
    );
    let prescriptions = clinic
        .get(
            &format!("/fhir/MedicationRequest?patient={ann}"),
            &physician,
        )
        .await;
    assert!(prescriptions.ids().is_empty(), "{}", prescriptions.body);

    // Type history pages the same way: full pages of what may be seen, then no link,
    // although the newest Observation version is another patient's.
    let bob = clinic.patient("Bob", "B", "1970-01-01", "male").await;
    clinic
        .observation(&bob, "2339-0", "2024-06-01T10:00:00Z", "final")
        .await;
    let first = clinic
        .get("/fhir/Observation/_history?_count=1", &physician)
        .await;
    assert_eq!(first.ids().len(), 1, "{}", first.body);
    let second = clinic
        .get(&first.next_link().expect("a second version"), &physician)
        .await;
    assert_eq!(second.ids().len(), 1, "{}", second.body);
    assert!(second.next_link().is_none(), "{}", second.body);
    let hidden = clinic
        .get("/fhir/MedicationRequest/_history", &physician)
        .await;
    assert!(hidden.ids().is_empty(), "{}", hidden.body);
}
