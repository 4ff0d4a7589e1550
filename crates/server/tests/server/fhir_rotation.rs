//! `medvault keys rotate-master`: every record, search and sign-in works under the new
//! key, the old key no longer opens the database, and the audit trail still verifies.

use serde_json::json;

use crate::clinic::Clinic;
use crate::realm::MASTER_KEY;
use crate::support::{medvault, run_to_exit};

/// A second master key (32 bytes, base64), distinct from the realm's.
const NEW_MASTER_KEY: &str = "TmV3LW1hc3Rlci1rZXktZm9yLXJvdGF0aW9uLXRlc3Q=";

#[tokio::test]
async fn every_record_reads_after_a_master_key_rotation() {
    let mut clinic = Clinic::start(&[]).await;
    let mut patients = Vec::new();
    let mut observations = Vec::new();
    for n in 0..5 {
        let patient = clinic
            .patient(&format!("Rotated{n}"), "Pat", "1980-01-01", "female")
            .await;
        observations.push(
            clinic
                .observation(&patient, "2339-0", "2024-03-01T10:00:00Z", "final")
                .await,
        );
        patients.push(patient);
    }
    let practitioner = clinic
        .create(json!({"resourceType": "Practitioner", "name": [{"family": "Keyholder"}]}))
        .await;

    clinic.realm.stop();
    clinic
        .realm
        .set_env("MEDVAULT_NEW_MASTER_KEY", NEW_MASTER_KEY);
    let (ok, stdout, stderr) = clinic.realm.run_cli(&["keys", "rotate-master"], "");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("data keys re-wrapped"), "{stdout}");
    assert!(stdout.contains("set MEDVAULT_MASTER_KEY"), "{stdout}");

    // The old key no longer opens the database.
    let (old_ok, _, old_err) = clinic.realm.run_cli(&["user", "list"], "");
    assert!(!old_ok);
    assert!(old_err.contains("wrong master key"), "{old_err}");

    clinic.realm.set_env("MEDVAULT_MASTER_KEY", NEW_MASTER_KEY);
    clinic.realm.restart().await;
    // Sign-in works: the signing keys were re-sealed.
    let (doctor, _) = clinic.realm.tokens("doctor@example.org").await;
    clinic.doctor = doctor.clone();
    for (patient, observation) in patients.iter().zip(&observations) {
        assert_eq!(
            clinic
                .get(&format!("/fhir/Patient/{patient}"), &doctor)
                .await
                .status,
            200
        );
        let read = clinic
            .get(&format!("/fhir/Observation/{observation}"), &doctor)
            .await;
        assert_eq!(read.status, 200, "{}", read.body);
    }
    assert_eq!(
        clinic
            .get(&format!("/fhir/Practitioner/{practitioner}"), &doctor)
            .await
            .status,
        200
    );
    // Blind indexes survive: their root was re-wrapped, not replaced.
    let found = clinic.get("/fhir/Patient?family=rotated3", &doctor).await;
    assert_eq!(found.ids(), vec![patients[3].clone()]);
    let created = clinic
        .patient("AfterRotation", "New", "2000-01-01", "male")
        .await;
    assert_eq!(
        clinic
            .get(&format!("/fhir/Patient/{created}"), &doctor)
            .await
            .status,
        200
    );

    clinic.realm.stop();
    let (verified, stdout, stderr) = clinic.realm.run_cli(&["audit", "verify"], "");
    assert!(verified, "{stdout}{stderr}");
    assert!(clinic.realm.audit_actions().await.contains(&"keys.rotate"));
    assert_ne!(MASTER_KEY, NEW_MASTER_KEY);
}

#[test]
fn the_file_provider_swaps_its_key_file_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut add = medvault(dir.path());
    add.args([
        "user",
        "add",
        "--email",
        "admin@example.org",
        "--role",
        "admin",
    ]);
    assert!(run_to_exit(add).status.success());
    let before = std::fs::read_to_string(dir.path().join("master.key")).unwrap();

    let mut rotate = medvault(dir.path());
    rotate.args(["keys", "rotate-master"]);
    let output = run_to_exit(rotate);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    assert_ne!(before, after);
    assert!(!dir.path().join("master.key.next").exists());

    for args in [&["user", "list"][..], &["audit", "verify"][..]] {
        let mut command = medvault(dir.path());
        command.args(args);
        let output = run_to_exit(command);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
