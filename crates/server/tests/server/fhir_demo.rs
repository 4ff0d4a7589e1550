//! `serve --demo`: synthetic records for every role to explore, seeded once.

use crate::clinic::Clinic;
use crate::realm::Realm;

/// The printed password of a demo login.
fn password_of(logs: &str, email: &str) -> String {
    logs.lines()
        .find(|line| line.contains(email) && !line.starts_with('{'))
        .and_then(|line| line.split_whitespace().last())
        .unwrap_or_else(|| panic!("{email} not printed:\n{logs}"))
        .to_owned()
}

#[tokio::test]
async fn demo_mode_seeds_patients_and_prints_one_login_per_role() {
    let realm = Realm::start(&["--demo"]).await;
    let logs = realm.server().logs();
    let mut tokens = std::collections::HashMap::new();
    for role in [
        "admin",
        "physician",
        "nurse",
        "director",
        "auditor",
        "researcher",
        "patient",
    ] {
        let email = format!("{role}@demo.medvault.test");
        let response = realm.login(&email, &password_of(&logs, &email)).await;
        assert_eq!(response.status(), 200, "{role}");
        let body: serde_json::Value = response.json().await.unwrap();
        tokens.insert(role, body["access_token"].as_str().unwrap().to_owned());
    }
    let clinic = Clinic::signed_in(realm, tokens["physician"].clone());
    let patients = clinic.get("/fhir/Patient?_count=200", &clinic.doctor).await;
    assert_eq!(patients.ids().len(), 25);
    let glucose = clinic
        .get(
            "/fhir/Observation?code=http://loinc.org|2339-0&_count=200",
            &clinic.doctor,
        )
        .await;
    assert!(!glucose.ids().is_empty());
    let teams = clinic
        .get("/fhir/CareTeam?_count=200", &clinic.doctor)
        .await;
    // The demo's own care team, and the one the physician joined registering each.
    assert_eq!(teams.ids().len(), 50, "{}", teams.body);

    // The director reads the hospital's patients and writes nothing; admin, auditor and
    // researcher read no clinical data at all.
    let managed = clinic
        .get("/fhir/Patient?_count=200", &tokens["director"])
        .await;
    assert_eq!(managed.ids().len(), 25, "{}", managed.body);
    for role in ["admin", "auditor", "researcher"] {
        let refused = clinic.get("/fhir/Observation", &tokens[role]).await;
        assert_eq!(refused.status, 403, "{role}: {}", refused.body);
    }

    // The demo patient sees their own chart, and only theirs.
    let own = clinic.get("/fhir/Patient", &tokens["patient"]).await;
    assert_eq!(own.ids().len(), 1);
    let everything = clinic
        .get(
            &format!("/fhir/Patient/{}/$everything", own.ids()[0]),
            &tokens["patient"],
        )
        .await;
    assert!(everything.ids().len() > 15, "{}", everything.body);

    // A restart with --demo does not seed twice.
    let mut realm = clinic.realm;
    realm.restart().await;
    assert!(realm.server().logs().contains("seeded at an earlier start"));
    let password = password_of(&logs, "physician@demo.medvault.test");
    let response = realm.login("physician@demo.medvault.test", &password).await;
    let body: serde_json::Value = response.json().await.unwrap();
    let doctor = body["access_token"].as_str().unwrap().to_owned();
    let clinic = Clinic::signed_in(realm, doctor);
    assert_eq!(
        clinic
            .get("/fhir/Patient?_count=200", &clinic.doctor)
            .await
            .ids()
            .len(),
        25
    );
}
